package main

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func runImage(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := imageCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func TestImageCommandsImportListRemovePull(t *testing.T) {
	if testing.Short() {
		t.Skip("unpacks images")
	}
	tmp := t.TempDir()
	data := filepath.Join(tmp, "agent")
	archive := filepath.Join(tmp, "busybox.tar")
	ref, _ := name.ParseReference("busybox")
	img := randomImage(t)
	if err := tarball.WriteToFile(archive, ref, img); err != nil {
		t.Fatal(err)
	}
	id, _ := img.ConfigName()

	out, err := runImage(t, "import", "--data-dir", data, archive)
	if err != nil || out != "docker.io/library/busybox:latest\n" {
		t.Fatalf("import: %q, %v; want the imported reference", out, err)
	}
	out, err = runImage(t, "ls", "--data-dir", data)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "IMAGE TAG DIGEST SIZE" {
		t.Fatalf("ls: %q, %v", out, err)
	}
	if f := strings.Fields(lines[1]); len(f) != 4 || f[0] != "docker.io/library/busybox" || f[1] != "latest" || f[2] != id.Hex[:12] || !strings.HasSuffix(f[3], "kB") {
		t.Errorf("ls row %q; want busybox, latest, %s, a size in kB", lines[1], id.Hex[:12])
	}

	// Pull from a registry on loopback, with plain progress lines since the output is no terminal.
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	pushed, _ := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/tools/app:v1")
	if err := remote.Write(pushed, randomImage(t)); err != nil {
		t.Fatal(err)
	}
	out, err = runImage(t, "pull", "--data-dir", data, pushed.String())
	if err != nil || !strings.Contains(out, "pulled "+pushed.String()+" (sha256:") || !strings.Contains(out, pushed.String()+": ") {
		t.Fatalf("pull: %q, %v; want progress lines and the pulled reference", out, err)
	}
	out, _ = runImage(t, "ls", "--data-dir", data)
	if !strings.Contains(out, "tools/app") {
		t.Errorf("ls after pull misses the pulled image: %q", out)
	}

	if out, err = runImage(t, "rm", "--data-dir", data, "busybox", "tools/missing:v1"); err == nil || !strings.Contains(out, "Deleted: busybox") {
		t.Errorf("rm of one present and one missing image: %q, %v; want one deleted and an error", out, err)
	}
	out, _ = runImage(t, "ls", "--data-dir", data)
	if strings.Contains(out, "busybox") {
		t.Errorf("busybox listed after rm: %q", out)
	}

	for _, bad := range [][]string{
		{"import", "--data-dir", data, filepath.Join(tmp, "missing.tar")},
		{"pull", "--data-dir", data, strings.TrimPrefix(srv.URL, "http://") + "/tools/app:nope"},
		{"import", "--data-dir", data},
	} {
		if _, err := runImage(t, bad...); err == nil {
			t.Errorf("skiff image %v succeeded; want an error", bad)
		}
	}
}
