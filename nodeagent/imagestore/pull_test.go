package imagestore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/nodeagent/runtime"
)

// testRegistry is an in-process registry on 127.0.0.1 that counts blob downloads and may ask for
// basic auth.
type testRegistry struct {
	host       string // 127.0.0.1:port
	user, pass string

	mu    sync.Mutex
	blobs map[string]int // GETs per blob digest
}

func newRegistry(t *testing.T, user, pass string) *testRegistry {
	t.Helper()
	r := &testRegistry{user: user, pass: pass, blobs: map[string]int{}}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.user != "" {
			if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
			r.mu.Lock()
			r.blobs[req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]]++
			r.mu.Unlock()
		}
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *testRegistry) push(t *testing.T, ref string, img v1.Image) string {
	t.Helper()
	n, err := name.ParseReference(r.host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(n, img, remote.WithAuth(&authn.Basic{Username: r.user, Password: r.pass})); err != nil {
		t.Fatal(err)
	}
	return n.String()
}

func (r *testRegistry) downloads(l v1.Layer) int {
	d, _ := l.Digest()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blobs[d.String()]
}

func TestPullFromARegistry(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, "", "")
	base, top := layer(t, entry{name: "base", body: "base"}), layer(t, entry{name: "top", body: "top"})
	img := image(t, []string{"app"}, base, top)
	ref := reg.push(t, "team/app:v1", img)
	s := openStore(t, t.TempDir())

	var calls, lastDone, lastTotal int64
	got, err := s.Pull(ctx, ref, PullOptions{Progress: func(done, total int64) { calls++; lastDone, lastTotal = done, total }})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != imageID(t, img) {
		t.Errorf("ID = %s; want %s", got.ID, imageID(t, img))
	}
	wantDigest := reg.host + "/team/app@" + manifestDigest(t, img)
	if !slices.Equal(got.RepoTags, []string{ref}) || !slices.Equal(got.RepoDigests, []string{wantDigest}) {
		t.Errorf("RepoTags %v RepoDigests %v; want [%s] [%s]", got.RepoTags, got.RepoDigests, ref, wantDigest)
	}
	baseSize, _ := base.Size()
	topSize, _ := top.Size()
	if calls < 2 || lastDone != baseSize+topSize || lastTotal != lastDone {
		t.Errorf("progress: %d calls, last %d/%d; want at least 2 calls ending at %d/%d", calls, lastDone, lastTotal, baseSize+topSize, baseSize+topSize)
	}
	if data, err := os.ReadFile(filepath.Join(s.LayerDirs(got)[0], "top")); err != nil || string(data) != "top" {
		t.Errorf("top layer file = %q, %v", data, err)
	}
	if byDigest, ok := s.Get(wantDigest); !ok || byDigest.ID != got.ID {
		t.Error("the image is not found by its repo digest")
	}

	// Pulling again, and by digest, downloads no layer: each is unpacked once.
	if _, err := s.Pull(ctx, ref, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pull(ctx, wantDigest, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, m := reg.downloads(base), reg.downloads(top); n != 1 || m != 1 {
		t.Errorf("layers downloaded %d and %d times; want once each", n, m)
	}

	// An image sharing the base layer downloads only its own.
	other := image(t, []string{"other"}, base, layer(t, entry{name: "other", body: "other"}))
	if _, err := s.Pull(ctx, reg.push(t, "team/other:v1", other), PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := reg.downloads(base); n != 1 {
		t.Errorf("the shared base layer was downloaded %d times; want once", n)
	}
}

func TestPullChoosesThisPlatformFromAnIndex(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, "", "")
	ours := image(t, []string{"ours"}, layer(t, entry{name: "arch", body: goruntime.GOARCH}))
	otherArch := "s390x"
	if goruntime.GOARCH == otherArch {
		otherArch = "amd64"
	}
	theirs := image(t, []string{"theirs"}, layer(t, entry{name: "arch", body: otherArch}))
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: theirs, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: otherArch}}},
		mutate.IndexAddendum{Add: ours, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}}},
	)
	ref, err := name.ParseReference(reg.host + "/multi:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, t.TempDir())
	got, err := s.Pull(ctx, ref.String(), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	if got.ID != imageID(t, ours) || !slices.Equal(got.RepoDigests, []string{reg.host + "/multi@" + idxDigest.String()}) {
		t.Errorf("pulled %s with digests %v; want %s known by the index digest %s", got.ID, got.RepoDigests, imageID(t, ours), idxDigest)
	}
}

func dockerConfigJSON(host, user, pass string) []byte {
	data, _ := json.Marshal(map[string]any{"auths": map[string]any{
		host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))},
	}})
	return data
}

func TestPullWithCredentialsFromPullSecrets(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, "puller", "s3cret")
	ref := reg.push(t, "private/app:v1", image(t, nil, layer(t, entry{name: "f", body: "f"})))
	legacy, _ := json.Marshal(map[string]any{"http://" + reg.host: map[string]string{"username": "puller", "password": "s3cret"}})
	for _, tc := range []struct {
		name    string
		secrets [][]byte
		ok      bool
	}{
		{"no secret pulls anonymously and is refused", nil, false},
		{"a secret for another registry is not sent", [][]byte{dockerConfigJSON("registry.example.com", "puller", "s3cret")}, false},
		{"a wrong password is refused", [][]byte{dockerConfigJSON(reg.host, "puller", "wrong")}, false},
		{"a dockerconfigjson for the registry", [][]byte{dockerConfigJSON(reg.host, "puller", "s3cret")}, true},
		{"a legacy dockercfg with a scheme", [][]byte{legacy}, true},
		{"a key with the repository path", [][]byte{dockerConfigJSON(reg.host+"/private", "puller", "s3cret")}, true},
		{"each matching secret is tried in turn", [][]byte{dockerConfigJSON(reg.host, "puller", "wrong"), dockerConfigJSON(reg.host+"/private", "puller", "s3cret")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			_, err := s.Pull(ctx, ref, PullOptions{PullSecrets: tc.secrets})
			if tc.ok && err != nil {
				t.Fatalf("Pull: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED")) {
				t.Fatalf("Pull = %v; want an UNAUTHORIZED error", err)
			}
		})
	}
	s := openStore(t, t.TempDir())
	if _, err := s.Pull(ctx, ref, PullOptions{PullSecrets: [][]byte{[]byte("{not json")}}); err == nil || !strings.Contains(err.Error(), "image pull secret 0") {
		t.Errorf("a malformed secret: %v; want an error naming it", err)
	}
}

func TestPullOfAnUnknownTagFailsClearly(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, "", "")
	reg.push(t, "app:v1", image(t, nil, layer(t, entry{name: "f", body: "f"})))
	s := openStore(t, t.TempDir())
	_, err := s.Pull(ctx, reg.host+"/app:nope", PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "pull "+reg.host+"/app:nope") || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
		t.Fatalf("Pull = %v; want an error naming the reference and MANIFEST_UNKNOWN", err)
	}
	if imgs, _ := s.List(); len(imgs) != 0 {
		t.Errorf("a failed pull left images: %+v", imgs)
	}
	if _, err := s.Pull(ctx, "Bad Name", PullOptions{}); err == nil || !strings.Contains(err.Error(), "invalid image reference") {
		t.Errorf("Pull of a bad name = %v", err)
	}
}

func TestPlainHTTPOnlyToLoopbackOrInsecureRegistries(t *testing.T) {
	for _, tc := range []struct {
		registry string
		loopback bool
	}{
		{"127.0.0.1:5000", true}, {"localhost:5000", true}, {"localhost", true}, {"[::1]:5000", true},
		{"registry.localhost", true}, {"10.0.0.1:5000", false}, {"192.168.1.2", false}, {"docker.io", false},
	} {
		if got := isLoopback(tc.registry); got != tc.loopback {
			t.Errorf("isLoopback(%q) = %v", tc.registry, got)
		}
	}
	// A private address is not loopback: go-containerregistry would fall back to HTTP for it, the
	// transport refuses before any connection is made.
	req, _ := http.NewRequest(http.MethodGet, "http://10.255.255.1:5000/v2/", nil)
	_, err := registryTransport("10.255.255.1:5000", false).RoundTrip(req)
	if err == nil || !strings.Contains(err.Error(), "HTTPS only") {
		t.Errorf("plain HTTP to a secure registry: %v; want a refusal", err)
	}
	if _, ok := registryTransport("10.255.255.1:5000", true).(httpPolicy); !ok || !registryTransport("10.255.255.1:5000", true).(httpPolicy).allowHTTP {
		t.Error("an insecure registry is not allowed HTTP")
	}
}

func TestCredentialKeysMatchAsTheKubeletKeyring(t *testing.T) {
	for _, tc := range []struct {
		key, image string
		match      bool
	}{
		{"https://index.docker.io/v1/", "busybox", true},
		{"docker.io", "foo/bar", true},
		{"quay.io", "busybox", false},
		{"127.0.0.1:5000", "127.0.0.1:5000/app", true},
		{"127.0.0.1:5000", "127.0.0.1:5001/app", false},
		{"127.0.0.1", "127.0.0.1:5000/app", false},
		{"*.example.com", "r.example.com/app", true},
		{"*.example.com", "example.com/app", false},
		{"r.example.com/team", "r.example.com/team/app", true},
		{"r.example.com/team", "r.example.com/teamx/app", false},
		{"http://r.example.com/v2/", "r.example.com/app", true},
	} {
		r, err := parse(tc.image)
		if err != nil {
			t.Fatal(err)
		}
		if got := keyMatches(tc.key, r); got != tc.match {
			t.Errorf("key %q for %s: %v; want %v", tc.key, tc.image, got, tc.match)
		}
	}
}

func TestPullPolicy(t *testing.T) {
	for _, tc := range []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"busybox", corev1.PullAlways},
		{"busybox:latest", corev1.PullAlways},
		{"busybox:1.36", corev1.PullIfNotPresent},
		{"busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
	} {
		if got := PullPolicyFor(tc.image); got != tc.want {
			t.Errorf("PullPolicyFor(%q) = %s; want %s", tc.image, got, tc.want)
		}
	}
	for _, tc := range []struct {
		policy  corev1.PullPolicy
		present bool
		want    bool
	}{
		{corev1.PullAlways, true, true}, {corev1.PullAlways, false, true},
		{corev1.PullIfNotPresent, true, false}, {corev1.PullIfNotPresent, false, true},
		{corev1.PullNever, true, false}, {corev1.PullNever, false, false},
	} {
		if got := ShouldPull(tc.policy, tc.present); got != tc.want {
			t.Errorf("ShouldPull(%s, present=%v) = %v", tc.policy, tc.present, got)
		}
	}
}

func TestEnsureImageReportsTheKubeletReasons(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, "", "")
	l := layer(t, entry{name: "f", body: "f"})
	ref := reg.push(t, "app:v1", image(t, nil, l))
	s := openStore(t, t.TempDir())
	for _, tc := range []struct {
		name, image string
		policy      corev1.PullPolicy
		reason      string // "" for success
		message     string
	}{
		{"never pulls what is missing", ref, corev1.PullNever, ReasonErrImageNeverPull, fmt.Sprintf("Container image %q is not present with pull policy of Never", ref)},
		{"an invalid name", "UPPER/case", "", ReasonInvalidImageName, `couldn't parse image name "UPPER/case"`},
		{"a pull that fails", reg.host + "/missing:v1", corev1.PullIfNotPresent, ReasonErrImagePull, fmt.Sprintf("Failed to pull image %q", reg.host+"/missing:v1")},
		{"pulls what is missing", ref, corev1.PullIfNotPresent, "", ""},
		{"uses what is present", ref, corev1.PullNever, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := s.EnsureImage(ctx, &corev1.Container{Image: tc.image, ImagePullPolicy: tc.policy}, PullOptions{})
			if tc.reason == "" {
				if err != nil || img.ID == "" {
					t.Fatalf("EnsureImage = %+v, %v", img, err)
				}
				return
			}
			var ce *runtime.ContainerError
			if !errors.As(err, &ce) || ce.Reason != tc.reason || !strings.Contains(ce.Message, tc.message) {
				t.Fatalf("EnsureImage error = %v; want reason %s with %q", err, tc.reason, tc.message)
			}
		})
	}
	if n := reg.downloads(l); n != 1 {
		t.Errorf("the layer was downloaded %d times; want once", n)
	}
}
