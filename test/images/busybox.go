package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// debArch is Debian's name of this machine's architecture, as .deb file names spell it.
func debArch() string {
	switch goruntime.GOARCH {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	case "mips64le":
		return "mips64el"
	default:
		return goruntime.GOARCH
	}
}

// busyboxDeb returns the busybox-static .deb: SKIFF_BUSYBOX_DEB, one in outDir or the cache directory,
// or one apt-get downloads into the cache directory.
func busyboxDeb(ctx context.Context, outDir string) (string, error) {
	if p := os.Getenv("SKIFF_BUSYBOX_DEB"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("SKIFF_BUSYBOX_DEB: %w", err)
		}
		return p, nil
	}
	cache := CacheDir()
	for _, dir := range []string{outDir, cache} {
		if p := findDeb(dir); p != "" {
			return p, nil
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	// Download into a directory of its own, then rename: a build running at the same time never sees
	// a part of the file.
	tmp, err := os.MkdirTemp(cache, ".download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "apt-get", "download", "busybox-static")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download busybox-static (or set SKIFF_BUSYBOX_DEB to a busybox-static .deb): %w\n%s", err, out)
	}
	got := findDeb(tmp)
	if got == "" {
		return "", fmt.Errorf("apt-get download busybox-static left no busybox-static_*_%s.deb", debArch())
	}
	p := filepath.Join(cache, filepath.Base(got))
	if err := os.Rename(got, p); err != nil {
		return "", err
	}
	return p, nil
}

// findDeb returns the newest-named busybox-static .deb for this architecture in dir, or "".
func findDeb(dir string) string {
	m, _ := filepath.Glob(filepath.Join(dir, "busybox-static_*_"+debArch()+".deb"))
	if len(m) == 0 {
		return ""
	}
	slices.Sort(m)
	return m[len(m)-1]
}

// busyboxLayer is busybox with a link in /bin for each of its applets, and the few files and
// directories a container expects.
func busyboxLayer(ctx context.Context, deb, workDir string) (v1.Layer, error) {
	bin, err := extractFromDeb(ctx, deb, "bin/busybox")
	if err != nil {
		return nil, err
	}
	applets, err := busyboxApplets(ctx, bin, workDir)
	if err != nil {
		return nil, err
	}
	entries := []entry{
		{name: "bin/busybox", mode: 0o755, typ: tar.TypeReg, data: bin},
		{name: "etc/passwd", mode: 0o644, typ: tar.TypeReg, data: []byte(
			"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{name: "etc/group", mode: 0o644, typ: tar.TypeReg, data: []byte("root:x:0:\nnobody:x:65534:\n")},
		{name: "root", mode: 0o700, typ: tar.TypeDir},
		{name: "tmp", mode: 0o1777, typ: tar.TypeDir},
	}
	for _, d := range []string{"bin", "dev", "etc", "home", "proc", "srv", "sys", "var"} {
		entries = append(entries, entry{name: d, mode: 0o755, typ: tar.TypeDir})
	}
	for _, a := range applets {
		entries = append(entries, entry{name: "bin/" + a, mode: 0o777, typ: tar.TypeSymlink, linkname: "/bin/busybox"})
	}
	l, err := layer(entries)
	if err != nil {
		return nil, fmt.Errorf("busybox layer: %w", err)
	}
	return l, nil
}

// busyboxApplets runs the static binary on this machine to list its applets.
func busyboxApplets(ctx context.Context, bin []byte, workDir string) ([]string, error) {
	// Busybox picks its applet by the name it runs as: it must be called busybox.
	dir, err := os.MkdirTemp(workDir, ".busybox-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, "busybox")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		return nil, fmt.Errorf("write busybox to list its applets: %w", err)
	}
	out, err := exec.CommandContext(ctx, exe, "--list").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		// Names are single path elements; busybox itself is the binary, not a link.
		if a != "busybox" && !strings.ContainsAny(a, "/\x00") && a != "." && a != ".." {
			applets = append(applets, a)
		}
	}
	if !slices.Contains(applets, "sh") {
		return nil, fmt.Errorf("busybox --list printed no sh applet (%d applets)", len(applets))
	}
	return applets, nil
}

// extractFromDeb returns the content of one regular file of a Debian package's filesystem tree.
func extractFromDeb(ctx context.Context, deb, name string) ([]byte, error) {
	tree, err := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return nil, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w", deb, err)
	}
	tr := tar.NewReader(bytes.NewReader(tree))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s holds no /%s", deb, name)
		}
		if err != nil {
			return nil, fmt.Errorf("read the files of %s: %w", deb, err)
		}
		if path.Clean("/"+hdr.Name) == "/"+name && hdr.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("read /%s of %s: %w", name, deb, err)
			}
			return b, nil
		}
	}
}
