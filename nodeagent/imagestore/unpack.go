package imagestore

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// OCI whiteouts, as the image spec writes them in layer tars.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"

	// overlayOpaque marks a directory whose lower contents overlayfs hides.
	overlayOpaque = "trusted.overlay.opaque"
)

// decompress returns the tar stream of a layer blob, whatever its compression: gzip, zstd, or none, told
// by the blob's first bytes as containerd does, since archives do not always say.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	default:
		return io.NopCloser(br), nil
	}
}

// unpackLayer writes the layer tar read from r into dir (which must exist and be empty), turning OCI
// whiteouts into overlayfs ones, so that dir can be a lowerdir. It checks that the tar's sha256 is
// diffID and returns the bytes of file content written.
func unpackLayer(ctx context.Context, r io.Reader, dir, diffID string) (int64, error) {
	h := sha256.New()
	tr := tar.NewReader(io.TeeReader(r, h))
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, err
	}
	defer root.Close()
	u := unpacker{root: root, chown: os.Geteuid() == 0, dirTimes: map[string]time.Time{}}
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read layer tar: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return 0, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
	}
	// The digest covers the whole stream, padding after the last entry included.
	if _, err := io.Copy(io.Discard, io.TeeReader(r, h)); err != nil {
		return 0, fmt.Errorf("read layer tar: %w", err)
	}
	if got := digestPrefix + hex.EncodeToString(h.Sum(nil)); got != diffID {
		return 0, fmt.Errorf("layer content is %s, the image says %s", got, diffID)
	}
	// Writing into a directory changes its times: set them once its entries are all there.
	for name, mtime := range u.dirTimes {
		if err := root.Chtimes(name, mtime, mtime); err != nil {
			return 0, err
		}
	}
	return u.size, nil
}

type unpacker struct {
	root     *os.Root
	chown    bool
	size     int64
	dirTimes map[string]time.Time
}

func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		// The layer's root is the image's root: only its metadata can be given.
		if hdr.Typeflag == tar.TypeDir {
			return u.setMeta(".", hdr, true)
		}
		return nil
	}
	dir, base := path.Split(name)
	dir = path.Clean("/" + dir)[1:]
	if dir == "" {
		dir = "."
	}
	if err := u.root.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	switch {
	case base == whiteoutOpaque:
		return u.setXattr(dir, overlayOpaque, "y")
	case strings.HasPrefix(base, whiteoutMeta):
		// Other metadata of aufs (hard link stores) has no meaning in a lower dir.
		return nil
	case strings.HasPrefix(base, whiteoutPrefix):
		target := path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))
		if err := u.replace(target, false); err != nil {
			return err
		}
		return u.mknod(target, unix.S_IFCHR, 0)
	}

	isDir := hdr.Typeflag == tar.TypeDir
	if err := u.replace(name, isDir); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := u.root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	case tar.TypeReg, tar.TypeRegA:
		f, err := u.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		n, err := io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		u.size += n
	case tar.TypeSymlink:
		if err := u.root.Symlink(hdr.Linkname, name); err != nil {
			return err
		}
		return u.setLinkMeta(name, hdr)
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link target: %w", err)
		}
		// A hard link shares its target's metadata: nothing more to set.
		return u.root.Link(target, name)
	case tar.TypeChar:
		return u.device(name, hdr, unix.S_IFCHR)
	case tar.TypeBlock:
		return u.device(name, hdr, unix.S_IFBLK)
	case tar.TypeFifo:
		return u.device(name, hdr, unix.S_IFIFO)
	default:
		// Sparse files and vendor types: docker and containerd skip them too.
		return nil
	}
	return u.setMeta(name, hdr, isDir)
}

// cleanName makes a tar entry's name relative to the layer root, refusing names that leave it.
func cleanName(n string) (string, error) {
	c := path.Clean("/" + n)
	if strings.Contains(n, "\x00") {
		return "", errors.New("name holds a NUL byte")
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", errors.New("name leaves the layer root")
		}
	}
	if c == "/" {
		return ".", nil
	}
	return c[1:], nil
}

// replace removes what stands at name before an entry takes its place: a later entry of a tar wins,
// except that a directory over a directory merges.
func (u *unpacker) replace(name string, isDir bool) error {
	fi, err := u.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if isDir && fi.IsDir() {
		return nil
	}
	return u.root.RemoveAll(name)
}

func (u *unpacker) device(name string, hdr *tar.Header, kind uint32) error {
	if err := u.mknod(name, kind, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
		return err
	}
	return u.setMeta(name, hdr, false)
}

// mknod makes a device node through the parent directory's descriptor, so that a symlink in the path
// cannot send it outside the layer.
func (u *unpacker) mknod(name string, kind uint32, dev int) error {
	dir, base := path.Split(name)
	return u.inDir(dir, func(fd int) error {
		if err := unix.Mknodat(fd, base, kind|0o600, dev); err != nil {
			if errors.Is(err, unix.EPERM) {
				return fmt.Errorf("mknod %s: %w (unpacking layers needs root)", name, err)
			}
			return fmt.Errorf("mknod %s: %w", name, err)
		}
		return nil
	})
}

func (u *unpacker) inDir(dir string, fn func(fd int) error) error {
	if dir == "" {
		dir = "."
	}
	d, err := u.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(int(d.Fd()))
}

func (u *unpacker) setXattr(name, key, value string) error {
	f, err := u.root.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fsetxattr(int(f.Fd()), key, []byte(value), 0); err != nil {
		return fmt.Errorf("set %s on %s: %w", key, name, err)
	}
	return nil
}

// setMeta gives a file, directory or device its owner, mode, extended attributes and times.
func (u *unpacker) setMeta(name string, hdr *tar.Header, isDir bool) error {
	if u.chown {
		if err := u.root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	// After chown, which clears setuid bits.
	if err := u.root.Chmod(name, hdr.FileInfo().Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	for key, value := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(key, "SCHILY.xattr.")
		// overlayfs' own attributes come from whiteouts only: a layer must not forge them.
		if !ok || strings.HasPrefix(attr, "trusted.overlay.") {
			continue
		}
		if err := u.setXattr(name, attr, value); err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return err
		}
	}
	if isDir {
		u.dirTimes[name] = hdr.ModTime
		return nil
	}
	return u.root.Chtimes(name, accessTime(hdr), hdr.ModTime)
}

// setLinkMeta gives a symlink its owner and times without following it.
func (u *unpacker) setLinkMeta(name string, hdr *tar.Header) error {
	if u.chown {
		if err := u.root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	dir, base := path.Split(name)
	return u.inDir(dir, func(fd int) error {
		ts := []unix.Timespec{unix.NsecToTimespec(accessTime(hdr).UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
		return unix.UtimesNanoAt(fd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
}

func accessTime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}
