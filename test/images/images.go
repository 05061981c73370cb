// Package images builds skiff's test images from the repository, never from the internet: busybox
// from Debian's busybox-static package, and the test server (./testserver) on top of it. Each is
// written as an OCI image layout tarball that `skiff image import` takes, or that a test pushes to a
// registry it serves on 127.0.0.1. The same inputs give the same digests.
package images

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
)

// References of the test images. Their tags are not "latest", so that pods using them default to
// imagePullPolicy IfNotPresent and run from imported images.
const (
	Busybox    = "test.skiff.dev/busybox:v1"
	TestServer = "test.skiff.dev/testserver:v1"
)

// Paths are the image tarballs Build writes.
type Paths struct {
	Busybox    string
	TestServer string
}

// epoch is the modification time of every file in the images, for reproducible layers.
var epoch = time.Unix(0, 0).UTC()

// Build writes both images to outDir as OCI layout tarballs, unless outDir holds them already, made
// from the same inputs. It downloads busybox-static with apt-get unless the .deb is in outDir, or
// SKIFF_BUSYBOX_DEB names one.
func Build(ctx context.Context, outDir string) (Paths, error) {
	paths := Paths{Busybox: filepath.Join(outDir, "busybox.tar"), TestServer: filepath.Join(outDir, "testserver.tar")}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return paths, err
	}
	deb, err := busyboxDeb(ctx, outDir)
	if err != nil {
		return paths, err
	}
	srcDir, err := testServerSource()
	if err != nil {
		return paths, err
	}
	stamp, err := inputsHash(deb, srcDir)
	if err != nil {
		return paths, err
	}
	stampFile := filepath.Join(outDir, "inputs.sha256")
	if old, err := os.ReadFile(stampFile); err == nil && string(old) == stamp {
		if _, err1 := os.Stat(paths.Busybox); err1 == nil {
			if _, err2 := os.Stat(paths.TestServer); err2 == nil {
				return paths, nil
			}
		}
	}

	bbLayer, err := busyboxLayer(ctx, deb)
	if err != nil {
		return paths, err
	}
	bb, err := image([]v1.Layer{bbLayer}, v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}})
	if err != nil {
		return paths, err
	}
	tsLayer, err := testServerLayer(ctx, srcDir, outDir)
	if err != nil {
		return paths, err
	}
	ts, err := image([]v1.Layer{bbLayer, tsLayer}, v1.Config{
		Entrypoint:   []string{"/testserver"},
		Cmd:          []string{"serve"},
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	})
	if err != nil {
		return paths, err
	}
	if err := writeLayoutTar(paths.Busybox, Busybox, bb); err != nil {
		return paths, err
	}
	if err := writeLayoutTar(paths.TestServer, TestServer, ts); err != nil {
		return paths, err
	}
	return paths, os.WriteFile(stampFile, []byte(stamp), 0o644)
}

var (
	forTestOnce  sync.Once
	forTestPaths Paths
	forTestErr   error
)

// ForTest builds the images once per process into $SKIFF_IMAGE_CACHE (default
// $TMPDIR/skiff-test-images), under a lock that test binaries running at once share.
func ForTest(t testing.TB) Paths {
	t.Helper()
	forTestOnce.Do(func() {
		dir := os.Getenv("SKIFF_IMAGE_CACHE")
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "skiff-test-images")
		}
		if forTestErr = os.MkdirAll(dir, 0o755); forTestErr != nil {
			return
		}
		lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			forTestErr = err
			return
		}
		defer lock.Close()
		if forTestErr = unix.Flock(int(lock.Fd()), unix.LOCK_EX); forTestErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		forTestPaths, forTestErr = Build(ctx, dir)
	})
	if forTestErr != nil {
		t.Fatalf("build test images: %v", forTestErr)
	}
	return forTestPaths
}

// Load reads the image of a tarball Build wrote.
func Load(path string) (v1.Image, error) {
	dir, err := os.MkdirTemp("", "skiff-image-")
	if err != nil {
		return nil, err
	}
	if err := untar(path, dir); err != nil {
		return nil, err
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("%s holds %d images, want 1", path, len(m.Manifests))
	}
	// The layout's blobs are read lazily: keep the directory (in the temp dir) for the image's life.
	return idx.Image(m.Manifests[0].Digest)
}

// busyboxDeb returns the busybox-static .deb, downloading it into dir if needed.
func busyboxDeb(ctx context.Context, dir string) (string, error) {
	if p := os.Getenv("SKIFF_BUSYBOX_DEB"); p != "" {
		return p, nil
	}
	find := func() string {
		m, _ := filepath.Glob(filepath.Join(dir, "busybox-static_*.deb"))
		if len(m) == 0 {
			return ""
		}
		slices.Sort(m)
		return m[len(m)-1]
	}
	if p := find(); p != "" {
		return p, nil
	}
	cmd := exec.CommandContext(ctx, "apt-get", "download", "busybox-static")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download busybox-static: %v\n%s", err, out)
	}
	if p := find(); p != "" {
		return p, nil
	}
	return "", errors.New("apt-get download busybox-static left no .deb")
}

// testServerSource is the directory of the test server's sources.
func testServerSource() (string, error) {
	_, file, _, ok := goruntime.Caller(0)
	if !ok {
		return "", errors.New("cannot find the test server's sources")
	}
	return filepath.Join(filepath.Dir(file), "testserver"), nil
}

// inputsHash covers everything the images are made from.
func inputsHash(deb, srcDir string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "format 1\n%s\n", goruntime.Version())
	for _, p := range []string{deb} {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	err := filepath.WalkDir(srcDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", d.Name(), len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// entry is a file of a layer.
type entry struct {
	name     string
	mode     int64
	typ      byte
	data     []byte
	linkname string
}

// layer makes a reproducible layer of entries.
func layer(entries []entry) (v1.Layer, error) {
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.typ, Linkname: e.linkname, ModTime: epoch,
			Size: int64(len(e.data)), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

// busyboxLayer is busybox with a link for each of its applets, and the few files a container expects.
func busyboxLayer(ctx context.Context, deb string) (v1.Layer, error) {
	bin, err := extractFromDeb(ctx, deb, "./bin/busybox")
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp("", "busybox-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(bin); err != nil {
		return nil, err
	}
	tmp.Close()
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, tmp.Name(), "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}
	dirs := []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "srv", "proc", "sys", "dev", "var", "home"}
	entries := []entry{
		{name: "bin/busybox", mode: 0o755, typ: tar.TypeReg, data: bin},
		{name: "tmp", mode: 0o1777, typ: tar.TypeDir},
		{name: "etc/passwd", mode: 0o644, typ: tar.TypeReg, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")},
		{name: "etc/group", mode: 0o644, typ: tar.TypeReg, data: []byte("root:x:0:\nnobody:x:65534:\n")},
	}
	for _, d := range dirs {
		entries = append(entries, entry{name: d, mode: 0o755, typ: tar.TypeDir})
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "bin/busybox" || !slices.Contains(dirs, filepath.Dir(applet)) {
			continue
		}
		entries = append(entries, entry{name: applet, mode: 0o777, typ: tar.TypeSymlink, linkname: "/bin/busybox"})
	}
	return layer(entries)
}

// extractFromDeb returns the content of one file of a Debian package.
func extractFromDeb(ctx context.Context, deb, name string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dpkg-deb: %w", err)
	}
	defer func() { _ = cmd.Wait() }()
	tr := tar.NewReader(out)
	for {
		hdr, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%s in %s: %w", name, deb, err)
		}
		if hdr.Name == name {
			b, err := io.ReadAll(tr)
			_, _ = io.Copy(io.Discard, out)
			return b, err
		}
	}
}

// testServerLayer is /testserver, built static.
func testServerLayer(ctx context.Context, srcDir, workDir string) (v1.Layer, error) {
	bin := filepath.Join(workDir, "testserver.bin")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -buildid=", "-o", bin, ".")
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the test server: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	_ = os.Remove(bin)
	return layer([]entry{{name: "testserver", mode: 0o755, typ: tar.TypeReg, data: data}})
}

// image stacks layers under cfg, for this machine's platform.
func image(layers []v1.Layer, cfg v1.Config) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = goruntime.GOARCH, "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// writeLayoutTar writes img named ref as a tar of an OCI image layout.
func writeLayoutTar(path, ref string, img v1.Image) error {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name, hdr.ModTime, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = filepath.ToSlash(rel), epoch, 0, 0, "", ""
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// untar unpacks a tarball Build wrote into dir.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if !strings.HasPrefix(target, filepath.Clean(dir)+string(filepath.Separator)) {
			return fmt.Errorf("%s: entry %q leaves the directory", path, hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.Create(target)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			out.Close()
			if err != nil {
				return err
			}
		}
	}
}
