package images

import (
	"archive/tar"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/skiffhq/skiff/nodeagent/imagestore"
)

// buildFresh builds the images into a new temp dir, as a cold build does (the .deb and Go's build
// cache aside), and reports how long it took.
func buildFresh(t *testing.T) Paths {
	t.Helper()
	start := time.Now()
	paths, err := Build(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Build into an empty dir took %v", time.Since(start).Round(time.Millisecond))
	return paths
}

func TestBuildMakesImagesTheNodeStoreImportsAndNames(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the image store unpacks layers with their owners")
	}
	paths := buildFresh(t)
	store, err := imagestore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	for _, p := range []string{paths.Busybox, paths.TestServer} {
		if _, err := store.Import(ctx, p); err != nil {
			t.Fatalf("import %s: %v", p, err)
		}
	}
	bb, ok := store.Get(Busybox)
	if !ok {
		t.Fatalf("%s not in the store after import", Busybox)
	}
	ts, ok := store.Get(TestServer)
	if !ok {
		t.Fatalf("%s not in the store after import", TestServer)
	}
	if len(bb.Layers) != 1 || len(ts.Layers) != 2 || ts.Layers[0] != bb.Layers[0] {
		t.Fatalf("layers: busybox %v, testserver %v: want the test server on busybox's one layer", bb.Layers, ts.Layers)
	}

	for _, c := range []struct {
		img        imagestore.Image
		entrypoint []string
		cmd        []string
	}{{bb, nil, []string{"sh"}}, {ts, []string{"/testserver"}, []string{"serve"}}} {
		cfg, err := store.Config(c.img)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.Config.Entrypoint, c.entrypoint) || !slices.Equal(cfg.Config.Cmd, c.cmd) {
			t.Errorf("%v: entrypoint %q cmd %q, want %q %q", c.img.RepoTags, cfg.Config.Entrypoint, cfg.Config.Cmd, c.entrypoint, c.cmd)
		}
		if cfg.OS != "linux" || cfg.Architecture != goruntime.GOARCH {
			t.Errorf("%v: platform %s/%s, want linux/%s", c.img.RepoTags, cfg.OS, cfg.Architecture, goruntime.GOARCH)
		}
		if len(cfg.Config.Env) != 1 || !strings.HasPrefix(cfg.Config.Env[0], "PATH=") || !strings.Contains(cfg.Config.Env[0], ":/bin") {
			t.Errorf("%v: env %q, want a PATH holding /bin", c.img.RepoTags, cfg.Config.Env)
		}
	}
	if cfg, _ := store.Config(ts); cfg == nil || len(cfg.Config.ExposedPorts) != 1 {
		t.Errorf("test server exposes %v, want 8080/tcp", cfg.Config.ExposedPorts)
	} else if _, ok := cfg.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("test server exposes %v, want 8080/tcp", cfg.Config.ExposedPorts)
	}

	root := store.LayerDirs(bb)[0]
	for _, applet := range []string{"sh", "ls", "cat", "wget", "nslookup", "sleep"} {
		if target, err := os.Readlink(filepath.Join(root, "bin", applet)); err != nil || target != "/bin/busybox" {
			t.Errorf("/bin/%s -> %q (%v), want a link to /bin/busybox", applet, target, err)
		}
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{
		{"bin/busybox", 0o755},
		{"tmp", os.ModeDir | os.ModeSticky | 0o777},
		{"root", os.ModeDir | 0o700},
		{"srv", os.ModeDir | 0o755},
		{"etc/passwd", 0o644},
		{"etc/group", 0o644},
	} {
		fi, err := os.Lstat(filepath.Join(root, c.path))
		if err != nil {
			t.Errorf("/%s: %v", c.path, err)
		} else if fi.Mode() != c.mode {
			t.Errorf("/%s has mode %v, want %v", c.path, fi.Mode(), c.mode)
		}
	}
	if passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); !strings.HasPrefix(string(passwd), "root:x:0:0:root:/root:/bin/sh\n") ||
		!strings.Contains(string(passwd), "\nnobody:x:65534:65534:") {
		t.Errorf("/etc/passwd is %q, want root and nobody", passwd)
	}
	top := store.LayerDirs(ts)[0]
	if fi, err := os.Stat(filepath.Join(top, "testserver")); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 {
		t.Errorf("/testserver in the top layer: %v, %v: want an executable file", fi, err)
	}
}

func TestBuildIsReproducibleAndSkipsWorkWhenInputsAreTheSame(t *testing.T) {
	cached := ForTest(t)
	fresh := buildFresh(t)
	dir := filepath.Dir(fresh.TestServer)
	for _, p := range [][2]string{{cached.Busybox, fresh.Busybox}, {cached.TestServer, fresh.TestServer}} {
		if a, b := digest(t, p[0]), digest(t, p[1]); a != b {
			t.Errorf("%s and %s, built from the same inputs, have digests %s and %s", p[0], p[1], a, b)
		}
	}

	mtimes := func() []time.Time {
		var out []time.Time
		for _, p := range []string{fresh.Busybox, fresh.TestServer} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fi.ModTime())
		}
		return out
	}
	// Old times, so that a rewrite shows however coarse the filesystem's clock.
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, p := range []string{fresh.Busybox, fresh.TestServer} {
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if _, err := Build(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a build with nothing to do took %v", took)
	}
	for i, m := range mtimes() {
		if !m.Equal(past) {
			t.Errorf("tarball %d was written again by a build with the same inputs", i)
		}
	}

	// A stamp of other inputs makes the next build write both tarballs again, with the same digests.
	if err := os.WriteFile(filepath.Join(dir, "inputs.sha256"), []byte("other inputs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	for i, m := range mtimes() {
		if m.Equal(past) {
			t.Errorf("tarball %d was not rebuilt when the inputs changed", i)
		}
	}
	if a, b := digest(t, cached.TestServer), digest(t, fresh.TestServer); a != b {
		t.Errorf("rebuilt test server has digest %s, want %s", b, a)
	}
}

func digest(t *testing.T, path string) v1.Hash {
	t.Helper()
	img, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLoadedImagesPushToARegistryAndPullBackTheSame(t *testing.T) {
	paths := ForTest(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, c := range []struct{ path, repo string }{{paths.Busybox, "busybox:v1"}, {paths.TestServer, "testserver:v1"}} {
		img, err := Load(c.path)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(host+"/"+c.repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("push %s: %v", c.path, err)
		}
		pulled, err := remote.Image(ref)
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		want, _ := img.Digest()
		if got, err := pulled.Digest(); err != nil || got != want {
			t.Errorf("pulled %s has digest %s (%v), pushed %s", ref, got, err, want)
		}
		layers, err := pulled.Layers()
		if err != nil {
			t.Fatal(err)
		}
		// Reading a pulled layer checks its content against the digest.
		for _, l := range layers {
			rc, err := l.Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				t.Errorf("layer of %s: %v", ref, err)
			}
			rc.Close()
		}
	}
}

func TestLoadRejectsWhatIsNotAnImageTarball(t *testing.T) {
	dir := t.TempDir()
	tarOf := func(name string, files map[string]string) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		tw := tar.NewWriter(f)
		for n, body := range files {
			if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			io.WriteString(tw, body)
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":2,` +
		`"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}]}`
	for _, c := range []struct {
		name, path, want string
	}{
		{"a missing file", filepath.Join(dir, "nothing.tar"), "no such file"},
		{"a file that is not a tar", func() string {
			p := filepath.Join(dir, "text")
			os.WriteFile(p, []byte(strings.Repeat("not a tar\n", 100)), 0o644)
			return p
		}(), "not a tarball of an OCI layout"},
		{"a tar without index.json", tarOf("empty.tar", map[string]string{"hello": "world"}), "no index.json"},
		{"an index that is not JSON", tarOf("badindex.tar", map[string]string{"index.json": "{"}), "index.json"},
		{"an index of no images", tarOf("noimage.tar", map[string]string{"index.json": `{"schemaVersion":2,"manifests":[]}`}), "0 manifests"},
		{"a manifest missing from the blobs", tarOf("nomanifest.tar", map[string]string{"index.json": missing}), "is not in"},
		{"a manifest not matching its digest", tarOf("corrupt.tar", map[string]string{"index.json": missing,
			"blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a": "[]"}), "does not match its digest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load: %v, want an error saying %q", err, c.want)
			}
		})
	}
}
