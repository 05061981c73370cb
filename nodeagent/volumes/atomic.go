package volumes

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// dataLink is the link to the current version of an atomically written volume.
const dataLink = "..data"

// writeAtomic makes dir hold exactly files (relative paths), as upstream's atomic writer: the new
// version is written to a timestamped directory, `..data` is switched to it by a rename, each
// top-level name is a link through `..data`, and the old version goes. Nothing is written when dir
// holds these files already.
func writeAtomic(dir string, files map[string]file) error {
	for p := range files {
		if err := validPath(p); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := os.Readlink(filepath.Join(dir, dataLink))
	if old != "" && sameContent(filepath.Join(dir, old), files) {
		return nil
	}
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return err
	}
	for p, f := range files {
		target := filepath.Join(ts, p)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, f.data, f.mode); err != nil {
			return err
		}
		// WriteFile's mode passes through the umask.
		if err := os.Chmod(target, f.mode); err != nil {
			return err
		}
	}
	tmpLink := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(ts), tmpLink); err != nil {
		return err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataLink)); err != nil {
		return fmt.Errorf("switch %s: %w", dataLink, err)
	}

	top := map[string]bool{}
	for p := range files {
		top[strings.SplitN(filepath.ToSlash(p), "/", 2)[0]] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if target, err := os.Readlink(link); err == nil && target == filepath.Join(dataLink, name) {
			continue
		}
		if err := os.Symlink(filepath.Join(dataLink, name), link); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case name == dataLink || name == filepath.Base(ts):
		case strings.HasPrefix(name, ".."):
			// Older versions, and a leftover of an interrupted write.
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return err
			}
		case !top[name]:
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// validPath refuses paths that would leave the volume or clash with its own links.
func validPath(p string) error {
	switch {
	case p == "" || filepath.IsAbs(p):
		return fmt.Errorf("invalid file path %q: must be relative", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("invalid file path %q: must not start with '..'", p)
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
	err := filepath.WalkDir(version, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(version, p)
		f, ok := files[rel]
		if !ok {
			return errors.New("extra file")
		}
		info, err := d.Info()
		if err != nil || info.Mode().Perm() != f.mode.Perm() {
			return errors.New("mode differs")
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.data) {
			return errors.New("content differs")
		}
		count++
		return nil
	})
	return err == nil && count == len(files)
}
