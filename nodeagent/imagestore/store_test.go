package imagestore

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

func TestNormalize(t *testing.T) {
	const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ in, want string }{
		{"busybox", "docker.io/library/busybox:latest"},
		{"busybox:latest", "docker.io/library/busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"library/busybox", "docker.io/library/busybox:latest"},
		{"docker.io/busybox", "docker.io/library/busybox:latest"},
		{"index.docker.io/library/busybox:1", "docker.io/library/busybox:1"},
		{"foo/bar", "docker.io/foo/bar:latest"},
		{"quay.io/foo/bar:v2", "quay.io/foo/bar:v2"},
		{"127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"},
		{"localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t"},
		{"busybox@" + dgst, "docker.io/library/busybox@" + dgst},
		{"busybox:1.36@" + dgst, "docker.io/library/busybox@" + dgst},
	} {
		got, err := Normalize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "Busybox", "busybox:", "busybox@sha256:123", "a b", "busybox:tag@" + dgst + "@" + dgst, dgst} {
		if got, err := Normalize(bad); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", bad, got)
		}
	}
}

// layerStack is two layers exercising everything a lower dir must hold: owners, modes, links, devices,
// xattrs, and in the upper layer a whiteout, an opaque directory and a changed file.
func layerStack(t *testing.T) (bottom, top v1.Layer) {
	bottom = layer(t,
		entry{name: "etc/", typ: tar.TypeDir},
		entry{name: "etc/hello", body: "hello v1\n", mode: 0o640, uid: 1000, gid: 1001},
		entry{name: "bin/", typ: tar.TypeDir},
		entry{name: "bin/tool", body: "#!/bin/sh\n", mode: 0o4755},
		entry{name: "bin/tool-link", typ: tar.TypeLink, link: "bin/tool"},
		entry{name: "hello-link", typ: tar.TypeSymlink, link: "etc/hello"},
		entry{name: "data/", typ: tar.TypeDir},
		entry{name: "data/old", body: "deleted above"},
		entry{name: "data/kept", body: "kept"},
		entry{name: "opaque/", typ: tar.TypeDir},
		entry{name: "opaque/hidden", body: "hidden above"},
		entry{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		entry{name: "attrs", body: "x", xattrs: map[string]string{"user.skiff": "yes", "trusted.overlay.opaque": "forged"}},
	)
	top = layer(t,
		entry{name: "etc/hello", body: "hello v2\n"},
		entry{name: "data/.wh.old"},
		entry{name: "opaque/", typ: tar.TypeDir},
		entry{name: "opaque/.wh..wh..opq"},
		entry{name: "opaque/new", body: "new"},
	)
	return bottom, top
}

func TestImportUnpacksLayersAsOverlayLowerDirs(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	tmp := t.TempDir()
	bottom, top := layerStack(t)
	img := image(t, []string{"sh", "-c", "true"}, bottom, top)
	archive := filepath.Join(tmp, "app.tar")
	writeDockerArchive(t, archive, map[string]v1.Image{"skiff.test/app:v1": img})

	s := openStore(t, filepath.Join(tmp, "data"))
	got, err := s.Import(ctx, archive)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != imageID(t, img) || !slices.Equal(got[0].RepoTags, []string{"skiff.test/app:v1"}) {
		t.Fatalf("imported %+v; want one image %s tagged skiff.test/app:v1", got, imageID(t, img))
	}
	if len(got[0].RepoDigests) != 0 {
		t.Errorf("a docker archive gives no repo digests (as docker load), got %v", got[0].RepoDigests)
	}
	dirs := s.LayerDirs(got[0])
	topDiff, _ := top.DiffID()
	bottomDiff, _ := bottom.DiffID()
	if len(dirs) != 2 || filepath.Base(dirs[0]) != topDiff.Hex || filepath.Base(dirs[1]) != bottomDiff.Hex {
		t.Fatalf("LayerDirs = %v; want top (%s) then bottom (%s)", dirs, topDiff.Hex, bottomDiff.Hex)
	}
	upper, lower := dirs[0], dirs[1]

	// The lower layer, as written.
	st := stat(t, filepath.Join(lower, "etc/hello"))
	if st.Uid != 1000 || st.Gid != 1001 || st.Mode&0o7777 != 0o640 {
		t.Errorf("etc/hello: uid %d gid %d mode %o; want 1000 1001 640", st.Uid, st.Gid, st.Mode&0o7777)
	}
	if st := stat(t, filepath.Join(lower, "bin/tool")); st.Mode&0o7777 != 0o4755 {
		t.Errorf("bin/tool mode %o; want setuid 4755", st.Mode&0o7777)
	}
	if a, b := stat(t, filepath.Join(lower, "bin/tool")), stat(t, filepath.Join(lower, "bin/tool-link")); a.Ino != b.Ino {
		t.Error("bin/tool-link is not a hard link of bin/tool")
	}
	if target, err := os.Readlink(filepath.Join(lower, "hello-link")); err != nil || target != "etc/hello" {
		t.Errorf("hello-link -> %q, %v", target, err)
	}
	if st := stat(t, filepath.Join(lower, "tmp")); st.Mode&0o7777 != 0o1777 {
		t.Errorf("tmp mode %o; want 1777", st.Mode&0o7777)
	}
	if fi, err := os.Stat(filepath.Join(lower, "etc/hello")); err != nil || !fi.ModTime().Equal(epoch) {
		t.Errorf("etc/hello mtime %v, %v; want %v", fi.ModTime(), err, epoch)
	}
	if fi, err := os.Stat(filepath.Join(lower, "etc")); err != nil || !fi.ModTime().Equal(epoch) {
		t.Errorf("etc mtime %v; want %v (set after its files)", fi.ModTime(), epoch)
	}
	if v := xattr(t, filepath.Join(lower, "attrs"), "user.skiff"); v != "yes" {
		t.Errorf("xattr user.skiff = %q; want yes", v)
	}
	if v := xattr(t, filepath.Join(lower, "attrs"), overlayOpaque); v != "" {
		t.Errorf("a layer forged %s = %q", overlayOpaque, v)
	}

	// The upper layer: OCI whiteouts became overlay ones.
	st = stat(t, filepath.Join(upper, "data/old"))
	if st.Mode&syscall.S_IFMT != syscall.S_IFCHR || st.Rdev != 0 {
		t.Errorf("data/old: mode %o rdev %d; want a 0/0 character device", st.Mode, st.Rdev)
	}
	if v := xattr(t, filepath.Join(upper, "opaque"), overlayOpaque); v != "y" {
		t.Errorf("opaque dir has %s = %q; want y", overlayOpaque, v)
	}
	for _, n := range []string{"data/.wh.old", "opaque/.wh..wh..opq"} {
		if _, err := os.Lstat(filepath.Join(upper, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is in the layer dir: %v", n, err)
		}
	}

	// What a container sees: overlayfs over both.
	merged := filepath.Join(tmp, "merged")
	if err := os.Mkdir(merged, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir="+strings.Join(dirs, ":")); err != nil {
		t.Fatalf("mount overlay: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })
	for path, want := range map[string]string{"etc/hello": "hello v2\n", "data/kept": "kept", "opaque/new": "new", "hello-link": "hello v2\n"} {
		if data, err := os.ReadFile(filepath.Join(merged, path)); err != nil || string(data) != want {
			t.Errorf("merged %s = %q, %v; want %q", path, data, err, want)
		}
	}
	for _, gone := range []string{"data/old", "opaque/hidden"} {
		if _, err := os.Lstat(filepath.Join(merged, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("merged %s: %v; want it gone", gone, err)
		}
	}

	cfg, err := s.Config(got[0])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Cmd, []string{"sh", "-c", "true"}) || cfg.Config.WorkingDir != "/work" || !slices.Equal(cfg.Config.Env, []string{"PATH=/bin"}) {
		t.Errorf("config %+v", cfg.Config)
	}
	var want int64
	for _, b := range []string{"hello v1\n", "#!/bin/sh\n", "deleted above", "kept", "hidden above", "x", "hello v2\n", "new"} {
		want += int64(len(b))
	}
	if got[0].Size != want {
		t.Errorf("Size = %d; want %d bytes of file content", got[0].Size, want)
	}
}

func stat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

func xattr(t *testing.T, p, key string) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, key, buf)
	if errors.Is(err, unix.ENODATA) {
		return ""
	}
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", p, key, err)
	}
	return string(buf[:n])
}

// TestImportFormats imports the same two images from every archive form and checks names and contents.
func TestImportFormats(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	base := layer(t, entry{name: "base", body: "base"})
	app := image(t, []string{"app"}, base, layer(t, entry{name: "app", body: "app"}))
	tool := image(t, []string{"tool"}, base, layer(t, entry{name: "tool", body: "tool"}))

	docker := filepath.Join(tmp, "docker.tar")
	writeDockerArchive(t, docker, map[string]v1.Image{"app:1": app, "127.0.0.1:5000/tools/tool:2": tool})
	dockerGz := filepath.Join(tmp, "docker.tar.gz")
	gzipFile(t, docker, dockerGz)
	ociDir := filepath.Join(tmp, "oci")
	writeOCILayout(t, ociDir, map[string]v1.Image{"app:1": app, "127.0.0.1:5000/tools/tool:2": tool})
	ociTar := filepath.Join(tmp, "oci.tar")
	tarDir(t, ociDir, ociTar)

	appDigest := "docker.io/library/app@" + manifestDigest(t, app)
	toolDigest := "127.0.0.1:5000/tools/tool@" + manifestDigest(t, tool)
	for _, tc := range []struct {
		name, path string
		digests    bool
	}{
		{"docker archive", docker, false},
		{"gzipped docker archive", dockerGz, false},
		{"OCI layout directory", ociDir, true},
		{"OCI layout tar", ociTar, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			got, err := s.Import(ctx, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("imported %d images; want 2", len(got))
			}
			for _, c := range []struct {
				ref, id, file, digest string
			}{
				{"app:1", imageID(t, app), "app", appDigest},
				{"127.0.0.1:5000/tools/tool:2", imageID(t, tool), "tool", toolDigest},
			} {
				img, ok := s.Get(c.ref)
				if !ok || img.ID != c.id {
					t.Fatalf("Get(%q) = %+v, %v; want image %s", c.ref, img, ok, c.id)
				}
				if want := mustNormalize(c.ref); !slices.Equal(img.RepoTags, []string{want}) {
					t.Errorf("%s: RepoTags %v; want [%s]", c.ref, img.RepoTags, want)
				}
				if tc.digests && !slices.Equal(img.RepoDigests, []string{c.digest}) {
					t.Errorf("%s: RepoDigests %v; want [%s]", c.ref, img.RepoDigests, c.digest)
				}
				if byID, ok := s.Get(c.id); !ok || byID.ID != c.id {
					t.Errorf("Get by ID %s failed", c.id)
				}
				dirs := s.LayerDirs(img)
				if data, err := os.ReadFile(filepath.Join(dirs[0], c.file)); err != nil || string(data) != c.file {
					t.Errorf("%s: top layer file %s = %q, %v", c.ref, c.file, data, err)
				}
				if data, err := os.ReadFile(filepath.Join(dirs[1], "base")); err != nil || string(data) != "base" {
					t.Errorf("%s: base layer = %q, %v", c.ref, data, err)
				}
			}
			usage, err := s.DiskUsage()
			if err != nil || usage.Layers != 3 || usage.UsedBytes != int64(len("base")+len("app")+len("tool")) {
				t.Errorf("DiskUsage = %+v, %v; want the shared base layer once: 3 layers, 11 bytes", usage, err)
			}
		})
	}
}

func gzipFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestImportRejectsBadArchivesClearly(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	s := openStore(t, filepath.Join(tmp, "data"))
	notArchive := filepath.Join(tmp, "plain.txt")
	os.WriteFile(notArchive, []byte("not a tar at all, just some words that are long enough"), 0o644)
	emptyTar := filepath.Join(tmp, "empty.tar")
	tarDir(t, t.TempDir(), emptyTar)
	escape := filepath.Join(tmp, "escape.tar")
	writeDockerArchive(t, escape, map[string]v1.Image{"evil:1": image(t, nil, layer(t, entry{name: "../../outside", body: "x"}))})
	for _, tc := range []struct{ name, path, want string }{
		{"missing file", filepath.Join(tmp, "nope.tar"), "no such file"},
		{"not a tar", notArchive, "read tar"},
		{"tar of nothing", emptyTar, "neither an OCI image layout"},
		{"layer escaping its root", escape, "leaves the layer root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Import(ctx, tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import = %v; want an error saying %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(tmp, "outside")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a layer wrote outside its directory")
	}
	if imgs, _ := s.List(); len(imgs) != 0 {
		t.Errorf("failed imports left images: %+v", imgs)
	}
	if work, _ := os.ReadDir(s.work); len(work) != 0 {
		t.Errorf("failed imports left work files: %v", work)
	}
}

func TestRemoveKeepsLayersOtherImagesUse(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	base := layer(t, entry{name: "base", body: "base"})
	appLayer := layer(t, entry{name: "app", body: "app"})
	app := image(t, []string{"app"}, base, appLayer)
	tool := image(t, []string{"tool"}, base, layer(t, entry{name: "tool", body: "tool"}))
	archive := filepath.Join(tmp, "images.tar")
	writeDockerArchive(t, archive, map[string]v1.Image{"app:1": app, "app:latest": app, "tool:1": tool})
	s := openStore(t, filepath.Join(tmp, "data"))
	if _, err := s.Import(ctx, archive); err != nil {
		t.Fatal(err)
	}
	layerDir := func(l v1.Layer) string {
		d, _ := l.DiffID()
		return filepath.Join(tmp, "data", "images", "layers", d.Hex)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	// Removing one of two tags keeps the image.
	if err := s.Remove(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	img, ok := s.Get("app:1")
	if !ok || !slices.Equal(img.RepoTags, []string{"docker.io/library/app:1"}) {
		t.Fatalf("after removing app:latest, app:1 = %+v, %v", img, ok)
	}
	if _, ok := s.Get("app:latest"); ok {
		t.Error("app:latest still resolves")
	}
	// Removing the last tag deletes the image and its own layer, not the shared one.
	if err := s.Remove(ctx, "docker.io/library/app:1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get(imageID(t, app)); ok {
		t.Error("the image is still there without tags")
	}
	if exists(layerDir(appLayer)) || !exists(layerDir(base)) {
		t.Errorf("after removing app: its layer exists=%v (want false), shared base exists=%v (want true)", exists(layerDir(appLayer)), exists(layerDir(base)))
	}
	if exists(filepath.Join(tmp, "data", "images", "blobs", "sha256", strings.TrimPrefix(imageID(t, app), "sha256:"))) {
		t.Error("app's config blob is left")
	}
	if data, err := os.ReadFile(filepath.Join(layerDir(base), "base")); err != nil || string(data) != "base" {
		t.Errorf("shared layer content = %q, %v", data, err)
	}
	// By ID, with every reference; then nothing is left.
	if err := s.Remove(ctx, strings.TrimPrefix(imageID(t, tool), "sha256:")[:12]); err != nil {
		t.Fatal(err)
	}
	if layers, _ := os.ReadDir(filepath.Join(tmp, "data", "images", "layers")); len(layers) != 0 {
		t.Errorf("layers left after removing every image: %v", layers)
	}
	if err := s.Remove(ctx, "tool:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing a missing image: %v; want ErrNotFound", err)
	}
}

func TestLeaseKeepsARemovedImageUntilReleased(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	l := layer(t, entry{name: "f", body: "f"})
	archive := filepath.Join(tmp, "a.tar")
	writeDockerArchive(t, archive, map[string]v1.Image{"a:1": image(t, nil, l)})
	s := openStore(t, filepath.Join(tmp, "data"))
	imgs, err := s.Import(ctx, archive)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lease(ctx, "a:1", "container-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "a:1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("a:1"); ok {
		t.Error("the reference survived its removal")
	}
	img, ok := s.Get(imgs[0].ID)
	if !ok || !dirExists(s.LayerDirs(img)[0]) {
		t.Fatal("a leased image was deleted from disk")
	}
	if res, err := s.GarbageCollect(ctx, nil, GCPolicy{}); err != nil || len(res.Removed) != 0 {
		t.Errorf("GC removed %v, %v; a leased image must stay", res.Removed, err)
	}
	if err := s.Release(ctx, "container-1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get(imgs[0].ID); ok || dirExists(s.LayerDirs(img)[0]) {
		t.Error("the removed image outlived its last lease")
	}
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func TestTwoStoresOnOneDirSeeEachOthersChanges(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	agent, cli := openStore(t, data), openStore(t, data)
	if _, ok := agent.Get("a:1"); ok {
		t.Fatal("an empty store has a:1")
	}
	archive := filepath.Join(tmp, "a.tar")
	writeDockerArchive(t, archive, map[string]v1.Image{"a:1": image(t, nil, layer(t, entry{name: "f", body: "f"}))})
	if _, err := cli.Import(ctx, archive); err != nil {
		t.Fatal(err)
	}
	img, ok := agent.Get("a:1")
	if !ok {
		t.Fatal("the agent's store does not see the CLI's import")
	}
	if _, err := agent.Config(img); err != nil {
		t.Errorf("config of the imported image: %v", err)
	}
	if err := agent.Remove(ctx, "a:1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := cli.Get("a:1"); ok {
		t.Error("the CLI's store still sees a removed image")
	}

	// Concurrent imports from both stores of images sharing a layer leave one consistent index.
	shared := layer(t, entry{name: "shared", body: "s"})
	errs := make(chan error, 8)
	for i := range 8 {
		st := agent
		if i%2 == 1 {
			st = cli
		}
		p := filepath.Join(tmp, fmt.Sprintf("c%d.tar", i))
		writeDockerArchive(t, p, map[string]v1.Image{fmt.Sprintf("c:%d", i): image(t, []string{fmt.Sprint(i)}, shared)})
		go func() { _, err := st.Import(ctx, p); errs <- err }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for _, st := range []*Store{agent, cli} {
		imgs, err := st.List()
		if err != nil || len(imgs) != 8 {
			t.Errorf("List = %d images, %v; want 8", len(imgs), err)
		}
	}
}

func TestOpenCleansWhatACrashLeft(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	live := openStore(t, data)
	archive := filepath.Join(tmp, "a.tar")
	writeDockerArchive(t, archive, map[string]v1.Image{"a:1": image(t, nil, layer(t, entry{name: "f", body: "f"}))})
	if _, err := live.Import(ctx, archive); err != nil {
		t.Fatal(err)
	}
	images := filepath.Join(data, "images")
	// A store that died mid-unpack: its work dir with half a layer, its lock file not held by anyone.
	dead := filepath.Join(images, "tmp", "999999-dead")
	os.MkdirAll(filepath.Join(dead, "layer-1", "usr"), 0o755)
	os.WriteFile(filepath.Join(dead, "layer-1", "usr", "half"), []byte("x"), 0o644)
	os.WriteFile(dead+".lock", nil, 0o600)
	// One that died after renaming a layer into place but before naming it in the index.
	orphan := filepath.Join(images, "layers", strings.Repeat("ab", 32))
	os.MkdirAll(orphan, 0o755)
	// A live store's unpack in progress.
	inProgress := filepath.Join(live.work, "layer-busy")
	os.Mkdir(inProgress, 0o700)

	s := openStore(t, data)
	for _, p := range []string{dead, dead + ".lock", orphan} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived Open: %v", p, err)
		}
	}
	if !dirExists(inProgress) {
		t.Error("Open removed the work of a live store")
	}
	img, ok := s.Get("a:1")
	if !ok || !dirExists(s.LayerDirs(img)[0]) {
		t.Error("Open lost a committed image")
	}
}

func TestGarbageCollectRemovesLeastRecentlyUsedUnusedImages(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	s := openStore(t, filepath.Join(tmp, "data"))
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return clock }
	ids := map[string]string{}
	for i, n := range []string{"old", "used", "newer", "fresh"} {
		clock = time.Date(2025, 1, 1, i, 0, 0, 0, time.UTC)
		p := filepath.Join(tmp, n+".tar")
		img := image(t, []string{n}, layer(t, entry{name: n, body: n}))
		writeDockerArchive(t, p, map[string]v1.Image{n + ":1": img})
		if _, err := s.Import(ctx, p); err != nil {
			t.Fatal(err)
		}
		ids[n] = imageID(t, img)
	}
	clock = clock.Add(time.Minute) // fresh is a minute old at the collection
	inUse := func(id string) bool { return id == ids["used"] }
	// Below the high threshold nothing goes.
	if res, err := s.GarbageCollect(ctx, inUse, GCPolicy{HighThresholdPercent: 100, LowThresholdPercent: 100, MinAge: 2 * time.Minute}); err != nil || len(res.Removed) != 0 {
		t.Fatalf("GC under the threshold removed %v, %v", res.Removed, err)
	}
	// 0%/0%: free everything that may go: not the image in use, not the one younger than MinAge.
	res, err := s.GarbageCollect(ctx, inUse, GCPolicy{MinAge: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{ids["old"], ids["newer"]}; !slices.Equal(res.Removed, want) || res.FreedBytes != int64(len("old")+len("newer")) {
		t.Errorf("GC removed %v freeing %d; want %v (least recently used first) freeing %d", res.Removed, res.FreedBytes, want, len("old")+len("newer"))
	}
	for n, keep := range map[string]bool{"old": false, "used": true, "newer": false, "fresh": true} {
		if _, ok := s.Get(n + ":1"); ok != keep {
			t.Errorf("%s present = %v; want %v", n, ok, keep)
		}
	}
	if img, _ := s.Get("used:1"); !img.LastUsed.Equal(clock) {
		t.Errorf("an image in use has LastUsed %v; want the collection's time %v", img.LastUsed, clock)
	}
	if _, err := s.GarbageCollect(ctx, nil, GCPolicy{HighThresholdPercent: 50, LowThresholdPercent: 80}); err == nil {
		t.Error("a low threshold above the high one was accepted")
	}
}

func TestPlanGCCountsOnlyLayersFreed(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ix := &index{
		Images: map[string]*imageRecord{
			"a": {ID: "a", Layers: []string{"base", "la"}, LastUsed: now.Add(-3 * time.Hour)},
			"b": {ID: "b", Layers: []string{"base", "lb"}, LastUsed: now.Add(-2 * time.Hour)},
			"c": {ID: "c", Layers: []string{"lc"}, LastUsed: now.Add(-1 * time.Hour)},
		},
		Layers: map[string]*layerRecord{"base": {Size: 100}, "la": {Size: 1}, "lb": {Size: 1}, "lc": {Size: 50}},
	}
	for _, tc := range []struct {
		name   string
		toFree int64
		used   map[string]bool
		want   []string
	}{
		{"the least recently used image suffices", 1, nil, []string{"a"}},
		{"a shared layer frees nothing until its last image goes", 2, nil, []string{"a", "b"}},
		{"then the next image", 103, nil, []string{"a", "b", "c"}},
		{"images in use are skipped", 50, map[string]bool{"b": true}, []string{"a", "c"}},
		{"nothing to free, nothing removed", 0, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := planGC(ix, tc.used, tc.toFree, now, 0); !slices.Equal(got, tc.want) {
				t.Errorf("planGC = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestBytesToFreeFollowsTheKubeletThresholds(t *testing.T) {
	for _, tc := range []struct {
		used, capacity uint64
		high, low      int
		want           int64
	}{
		{84, 100, 85, 80, 0},
		{85, 100, 85, 80, 5},
		{95, 100, 85, 80, 15},
		{10, 100, 0, 0, 10},
		{10, 0, 85, 80, 0},
	} {
		if got := bytesToFree(DiskUsage{Capacity: tc.capacity, Available: tc.capacity - tc.used}, GCPolicy{HighThresholdPercent: tc.high, LowThresholdPercent: tc.low}); got != tc.want {
			t.Errorf("used %d/%d at %d/%d%%: free %d; want %d", tc.used, tc.capacity, tc.high, tc.low, got, tc.want)
		}
	}
}
