// Package images builds skiff's test images from the repository, never from the internet: busybox from
// Debian's busybox-static package, and the test server (./testserver) on top of it. Each is written as an
// OCI image layout tarball, named by its full reference, that `skiff image import` and the node's image
// store take, or that a test pushes to a registry it serves on 127.0.0.1. The same inputs give the same
// digests, and a build whose inputs have not changed writes nothing.
package images

import (
	"archive/tar"
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
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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

// stampFormat changes whenever the way images are laid out changes, so that old tarballs are rebuilt.
const stampFormat = "skiff test images 2"

// defaultPath is the PATH of both images: busybox's applets are all in /bin.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Build writes both images to outDir as OCI layout tarballs (busybox.tar, testserver.tar), unless outDir
// holds them already, made from the same inputs: the busybox-static .deb, the test server's sources and
// the Go toolchain. The .deb is the one SKIFF_BUSYBOX_DEB names, else one in outDir or in the cache
// directory (CacheDir), else `apt-get download` fetches it into the cache directory.
func Build(ctx context.Context, outDir string) (Paths, error) {
	paths := Paths{Busybox: filepath.Join(outDir, "busybox.tar"), TestServer: filepath.Join(outDir, "testserver.tar")}
	if err := build(ctx, outDir, paths); err != nil {
		return Paths{}, fmt.Errorf("build test images in %s: %w", outDir, err)
	}
	return paths, nil
}

func build(ctx context.Context, outDir string, paths Paths) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	deb, err := busyboxDeb(ctx, outDir)
	if err != nil {
		return err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	stamp, err := inputsHash(ctx, deb, filepath.Join(root, testServerPkg))
	if err != nil {
		return err
	}
	stampFile := filepath.Join(outDir, "inputs.sha256")
	if old, err := os.ReadFile(stampFile); err == nil && string(old) == stamp && exist(paths.Busybox, paths.TestServer) {
		return nil
	}
	// Without a stamp, tarballs half replaced by an interrupted build are never taken as current.
	if err := os.Remove(stampFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	bbLayer, err := busyboxLayer(ctx, deb, outDir)
	if err != nil {
		return err
	}
	bb, err := image([]v1.Layer{bbLayer}, v1.Config{Cmd: []string{"sh"}, Env: []string{defaultPath}})
	if err != nil {
		return fmt.Errorf("busybox image: %w", err)
	}
	tsLayer, err := testServerLayer(ctx, root, outDir)
	if err != nil {
		return err
	}
	ts, err := image([]v1.Layer{bbLayer, tsLayer}, v1.Config{
		Entrypoint:   []string{"/testserver"},
		Cmd:          []string{"serve"},
		Env:          []string{defaultPath},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	})
	if err != nil {
		return fmt.Errorf("test server image: %w", err)
	}
	if err := writeLayoutTar(paths.Busybox, Busybox, bb); err != nil {
		return err
	}
	if err := writeLayoutTar(paths.TestServer, TestServer, ts); err != nil {
		return err
	}
	return writeFileAtomic(stampFile, []byte(stamp))
}

// CacheDir is where ForTest builds the images and where Build keeps the busybox-static .deb:
// $SKIFF_IMAGE_CACHE, else skiff-test-images in the temp dir.
func CacheDir() string {
	if dir := os.Getenv("SKIFF_IMAGE_CACHE"); dir != "" {
		return dir
	}
	return filepath.Join(os.TempDir(), "skiff-test-images")
}

// forTest is the one build of a test process; every test of the process shares its result.
var forTest struct {
	once  sync.Once
	paths Paths
	err   error
}

// ForTest builds the images once per process into CacheDir, under a file lock that test binaries
// running at the same time share, and returns their paths. It fails the test if they cannot be built.
func ForTest(t testing.TB) Paths {
	t.Helper()
	forTest.once.Do(func() {
		forTest.paths, forTest.err = buildLocked(CacheDir())
	})
	if forTest.err != nil {
		t.Fatalf("test images: %v", forTest.err)
	}
	return forTest.paths
}

func buildLocked(dir string) (Paths, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Paths{}, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return Paths{}, err
	}
	defer lock.Close() // closing the file releases the lock
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return Paths{}, fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return Build(ctx, dir)
}

// testServerPkg is the test server's package directory, relative to the module root.
const testServerPkg = "test/images/testserver"

// modulePath is the module that holds the test server.
const modulePath = "github.com/skiffhq/skiff"

// moduleRoot finds the module's directory: from this file's location when the build kept it, else from
// `go env GOMOD` in the working directory (tests run in their package's directory).
func moduleRoot(ctx context.Context) (string, error) {
	if _, file, _, ok := goruntime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Join(filepath.Dir(file), "..", "..")
		if isModuleRoot(root) {
			return root, nil
		}
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root: go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if !isModuleRoot(root) {
		return "", fmt.Errorf("find the module root: neither this source file's location nor the working directory is in module %s", modulePath)
	}
	return root, nil
}

func isModuleRoot(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && f[1] == modulePath {
			_, err := os.Stat(filepath.Join(dir, testServerPkg, "main.go"))
			return err == nil
		}
	}
	return false
}

// inputsHash covers everything the images are made from: the .deb, the test server's sources (not its
// tests), the Go that compiles it and the Go of this process, whose gzip writes the layers.
func inputsHash(ctx context.Context, deb, srcDir string) (string, error) {
	goVersion, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n", stampFormat, goruntime.Version(), strings.TrimSpace(string(goVersion)), goruntime.GOARCH)
	f, err := os.Open(deb)
	if err != nil {
		return "", err
	}
	debSum := sha256.New()
	_, err = io.Copy(debSum, f)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("read %s: %w", deb, err)
	}
	fmt.Fprintf(h, "deb %x\n", debSum.Sum(nil))
	err = filepath.WalkDir(srcDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(srcDir, p)
		fmt.Fprintf(h, "file %s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash the test server's sources: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// testServerLayer is /testserver, a static binary built from the module's sources.
func testServerLayer(ctx context.Context, root, workDir string) (v1.Layer, error) {
	tmp, err := os.CreateTemp(workDir, ".testserver-")
	if err != nil {
		return nil, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid=",
		"-o", tmp.Name(), "./"+testServerPkg)
	cmd.Dir = root
	// Only what the binary is made of counts: not the caller's GOFLAGS, workspace or target.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goruntime.GOARCH, "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./%s: %w\n%s", testServerPkg, err, out)
	}
	data, err := os.ReadFile(tmp.Name())
	if err != nil {
		return nil, err
	}
	return layer([]entry{{name: "testserver", mode: 0o755, typ: tar.TypeReg, data: data}})
}

func exist(paths ...string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// writeFileAtomic replaces path with data: readers see the old file or the new one, never a part.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
