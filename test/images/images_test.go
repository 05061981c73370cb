package images

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffhq/skiff/nodeagent/imagestore"
)

func TestImagesImportIntoTheNodeStoreAndShareBusybox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: unpacking layers makes overlay whiteouts")
	}
	paths := ForTest(t)
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
	cfg, err := store.Config(ts)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/testserver" {
		t.Errorf("test server entrypoint %v", cfg.Config.Entrypoint)
	}
	dirs := store.LayerDirs(bb)
	if target, err := os.Readlink(dirs[0] + "/bin/sh"); err != nil || target != "/bin/busybox" {
		t.Errorf("/bin/sh -> %q (%v), want /bin/busybox", target, err)
	}
	if st, err := os.Stat(store.LayerDirs(ts)[0] + "/testserver"); err != nil || st.Mode().Perm()&0o111 == 0 {
		t.Errorf("/testserver: %v, mode %v: want an executable", err, st.Mode())
	}
}

func TestBuildTwiceWithTheSameInputsWritesNothing(t *testing.T) {
	first := ForTest(t)
	before, err := os.Stat(first.TestServer)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	again, err := Build(context.Background(), filepath.Dir(first.TestServer))
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(again.TestServer)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the test server tarball was written again")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a build with nothing to do took %v", took)
	}
}
