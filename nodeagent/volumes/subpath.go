package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiffhq/skiff/nodeagent/runtime"
)

// ResolveSubPath returns the host path of subPath inside the volume directory, as the kubelet
// prepares a volumeMount's subPath: absolute paths and `..` are refused, symbolic links inside the
// volume are followed but one that leads out of it is an error, and missing directories are made
// (0755, as the kubelet). The path returned holds no symbolic link. An empty subPath is the volume.
//
// The volume may be writable by containers, which could swap a directory for a link between this
// check and the bind mount that uses the path; the kubelet closes that window by mounting an
// opened file descriptor, which a path handed to runc cannot do.
func ResolveSubPath(volume, subPath string) (string, error) {
	if filepath.IsAbs(subPath) {
		return "", fmt.Errorf("subPath %q must be a relative path", subPath)
	}
	for _, part := range strings.Split(filepath.ToSlash(subPath), "/") {
		if part == ".." {
			return "", fmt.Errorf("subPath %q must not contain '..'", subPath)
		}
	}
	root, err := filepath.EvalSymlinks(volume)
	if err != nil {
		return "", fmt.Errorf("volume path %s: %w", volume, err)
	}
	cur := root
	clean := filepath.Clean(subPath)
	if clean == "." {
		return root, nil
	}
	for _, part := range strings.Split(clean, string(filepath.Separator)) {
		next := filepath.Join(cur, part)
		st, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(next, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("subPath %q: %w", subPath, err)
			}
			// Exact mode, not the umask's; and whatever is there now is looked at again below.
			if st, err = os.Lstat(next); err == nil && st.IsDir() {
				err = os.Chmod(next, 0o755)
			}
		}
		if err != nil {
			return "", fmt.Errorf("subPath %q: %w", subPath, err)
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			real, err := filepath.EvalSymlinks(next)
			if err != nil {
				return "", fmt.Errorf("subPath %q: resolve link %s: %w", subPath, next, err)
			}
			if !within(root, real) {
				return "", fmt.Errorf("subPath %q is not within volume path %s: %s leads to %s", subPath, volume, next, real)
			}
			next = real
		}
		cur = next
	}
	return cur, nil
}

// within says whether path is base or below it; both are clean and absolute.
func within(base, path string) bool {
	return path == base || strings.HasPrefix(path, base+string(filepath.Separator))
}

// ExpandSubPathExpr expands a volumeMount's subPathExpr with the container's environment as
// upstream: $(NAME) is the variable's value, $$ a literal $, an unknown variable stays as written.
// The result is checked as a subPath.
func ExpandSubPathExpr(expr string, env map[string]string) (string, error) {
	sub := runtime.ExpandVars(expr, env)
	if filepath.IsAbs(sub) {
		return "", fmt.Errorf("subPathExpr %q expands to %q: must be a relative path", expr, sub)
	}
	for _, part := range strings.Split(filepath.ToSlash(sub), "/") {
		if part == ".." {
			return "", fmt.Errorf("subPathExpr %q expands to %q: must not contain '..'", expr, sub)
		}
	}
	return sub, nil
}
