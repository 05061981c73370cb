package volumes

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	// dataLink is the link to the current version of an atomically written volume.
	dataLink = "..data"
	// dataTmpLink is the new link, renamed over dataLink to switch versions in one step.
	dataTmpLink = "..data_tmp"
	// versionLayout names a version directory (after ".."), as upstream's atomic writer.
	versionLayout = "2006_01_02_15_04_05.000000000"
)

// file is one file of an atomically written volume.
type file struct {
	data []byte
	mode os.FileMode
}

// writeAtomic makes dir hold exactly files (keyed by relative path), as upstream's atomic writer:
//
//  1. the new version goes to a directory of its own, `..<timestamp><random>`;
//  2. a link `..data_tmp` to it is renamed over `..data`, so readers that resolve `..data` once see
//     the old version or the new one, whole;
//  3. each top-level name is a link `name -> ..data/name`, made once and then left alone;
//  4. the old version, and the top-level links of names no longer written, are removed; other
//     entries are left alone.
//
// Nothing is written when `..data` holds these files with these modes already, so `..data` only
// moves on a change. now names the version directory.
func writeAtomic(dir string, files map[string]file, now time.Time) error {
	top := map[string]bool{}
	clean := make(map[string]file, len(files))
	for p, f := range files {
		if err := validPath(p); err != nil {
			return err
		}
		// Keyed as the walk of a version directory finds them, so that unchanged content compares equal.
		p = filepath.Clean(p)
		clean[p] = f
		top[strings.SplitN(filepath.ToSlash(p), "/", 2)[0]] = true
	}
	files = clean
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("make volume directory: %w", err)
	}
	old, err := os.Readlink(filepath.Join(dir, dataLink))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", dataLink, err)
	}
	if old != "" && sameContent(filepath.Join(dir, old), files) {
		return nil
	}

	version, err := os.MkdirTemp(dir, ".."+now.UTC().Format(versionLayout))
	if err != nil {
		return fmt.Errorf("make version directory: %w", err)
	}
	if err := writeVersion(version, files); err != nil {
		_ = os.RemoveAll(version)
		return err
	}
	tmp := filepath.Join(dir, dataTmpLink)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove a leftover %s: %w", dataTmpLink, err)
	}
	if err := os.Symlink(filepath.Base(version), tmp); err != nil {
		return fmt.Errorf("link %s: %w", dataTmpLink, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		return fmt.Errorf("switch %s: %w", dataLink, err)
	}

	for name := range top {
		link, target := filepath.Join(dir, name), filepath.Join(dataLink, name)
		if got, err := os.Readlink(link); err == nil && got == target {
			continue
		}
		// Something else of that name (a link made by hand, a stray file) gives way to the link.
		if err := os.RemoveAll(link); err != nil {
			return fmt.Errorf("replace %s: %w", link, err)
		}
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list volume directory: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case name == dataLink || name == filepath.Base(version) || top[name]:
		case strings.HasPrefix(name, ".."):
			// The old version, and leftovers of an interrupted write.
			if err := os.RemoveAll(path); err != nil {
				return fmt.Errorf("remove old version %s: %w", name, err)
			}
		default:
			// Only the links this writer made go: anything else was made by someone else (a
			// subPath directory, say) and is theirs.
			if target, err := os.Readlink(path); err == nil && target == filepath.Join(dataLink, name) {
				if err := os.Remove(path); err != nil {
					return fmt.Errorf("remove %s, no longer in the volume: %w", name, err)
				}
			}
		}
	}
	return nil
}

// writeVersion writes files into the fresh version directory, with their exact modes.
func writeVersion(version string, files map[string]file) error {
	// MkdirTemp makes 0700; readers in containers run as any user.
	if err := os.Chmod(version, 0o755); err != nil {
		return fmt.Errorf("chmod version directory: %w", err)
	}
	for p, f := range files {
		target := filepath.Join(version, p)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := os.WriteFile(target, f.data, f.mode); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		// WriteFile's mode passes through the umask.
		if err := os.Chmod(target, f.mode); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	return nil
}

// validPath refuses paths that would leave the volume or clash with its own `..` entries, with
// upstream's reasons.
func validPath(p string) error {
	switch {
	case p == "":
		return errors.New("invalid file path: must not be empty")
	case filepath.IsAbs(p):
		return fmt.Errorf("invalid file path %q: must be relative", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("invalid file path %q: must not start with '..'", p)
	case filepath.Clean(p) == ".":
		return fmt.Errorf("invalid file path %q: names no file", p)
	}
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if part == ".." {
			return fmt.Errorf("invalid file path %q: must not contain '..'", p)
		}
	}
	return nil
}

// sameContent says whether the version directory holds exactly files, with their modes.
func sameContent(version string, files map[string]file) bool {
	count := 0
	errDiffers := errors.New("differs")
	err := filepath.WalkDir(version, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(version, p)
		if err != nil {
			return err
		}
		f, ok := files[rel]
		if !ok {
			return errDiffers
		}
		info, err := d.Info()
		if err != nil || info.Mode().Perm() != f.mode.Perm() {
			return errDiffers
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.data) {
			return errDiffers
		}
		count++
		return nil
	})
	return err == nil && count == len(files)
}
