package imagestore

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	goruntime "runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PullOptions say how to reach a registry.
type PullOptions struct {
	// PullSecrets are the payloads of the pod's image pull secrets: the .dockerconfigjson of a
	// kubernetes.io/dockerconfigjson secret ({"auths": {...}}) or the .dockercfg of a
	// kubernetes.io/dockercfg one. The credentials whose registry matches the image are tried, most
	// specific first, as the kubelet does; with none matching the pull is anonymous.
	PullSecrets [][]byte
	// InsecureRegistries (host or host:port) may be reached over plain HTTP, and over HTTPS without
	// checking their certificate. Registries on loopback addresses always may use HTTP.
	InsecureRegistries []string
	// Progress, if set, is told the bytes of layers downloaded so far and the bytes to download.
	Progress func(done, total int64)
}

// Pull fetches the image ref names (for this machine's platform when ref names an index) and adds it
// to the store, under ref and under its repository's digest reference. Layers the store has already are
// not downloaded.
func (s *Store) Pull(ctx context.Context, ref string, opts PullOptions) (Image, error) {
	r, err := parse(ref)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	creds, err := credentialsFor(opts.PullSecrets, r)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	insecure := slices.Contains(opts.InsecureRegistries, r.registry)
	gref, err := r.ggcr(insecure || isLoopback(r.registry))
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	transport := registryTransport(gref.Context().RegistryStr(), insecure)
	var desc *remote.Descriptor
	for i, cred := range creds {
		desc, err = remote.Get(gref,
			remote.WithContext(ctx),
			remote.WithAuth(authn.FromConfig(cred)),
			remote.WithTransport(transport),
			remote.WithPlatform(v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}),
			remote.WithUserAgent("skiff"))
		if err == nil || ctx.Err() != nil || i == len(creds)-1 {
			break
		}
	}
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", r, err)
	}
	img, err := desc.Image()
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", r, err)
	}
	src := source{}
	if src.config, err = img.RawConfigFile(); err != nil {
		return Image{}, fmt.Errorf("pull %s: config: %w", r, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", r, err)
	}
	for _, l := range layers {
		size, err := l.Size()
		if err != nil {
			return Image{}, fmt.Errorf("pull %s: %w", r, err)
		}
		src.layers = append(src.layers, blob{size: size, open: func(context.Context) (io.ReadCloser, error) { return l.Compressed() }})
	}
	if r.tag != "" {
		src.tags = []string{r.String()}
	}
	byDigest := r
	byDigest.tag, byDigest.digest = "", desc.Digest.String()
	src.digests = []string{byDigest.String()}
	stored, err := s.add(ctx, src, opts.Progress)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", r, err)
	}
	return stored, nil
}

// isLoopback tells whether a registry host[:port] is this machine's loopback.
func isLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// registryTransport refuses plain HTTP to the registry unless it is insecure or on loopback
// (go-containerregistry would also fall back to HTTP for private addresses), and skips certificate
// checks for insecure registries, as docker's insecure-registries does.
func registryTransport(registry string, insecure bool) http.RoundTripper {
	base := http.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		base.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return httpPolicy{base: base, registry: registry, allowHTTP: insecure || isLoopback(registry)}
}

type httpPolicy struct {
	base      http.RoundTripper
	registry  string
	allowHTTP bool
}

func (p httpPolicy) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && req.URL.Host == p.registry && !p.allowHTTP {
		return nil, fmt.Errorf("registry %s is reached over HTTPS only; list it as an insecure registry to allow HTTP", p.registry)
	}
	return p.base.RoundTrip(req)
}

// credentialsFor returns the credentials to try for an image, most specific first, ending with
// anonymous access only when no secret matches, as the kubelet's keyring does.
func credentialsFor(secrets [][]byte, r reference) ([]authn.AuthConfig, error) {
	type entry struct {
		key  string
		auth authn.AuthConfig
	}
	var matches []entry
	for i, data := range secrets {
		auths, err := parseDockerConfig(data)
		if err != nil {
			return nil, fmt.Errorf("image pull secret %d: %w", i, err)
		}
		for key, auth := range auths {
			if keyMatches(key, r) {
				matches = append(matches, entry{key, auth})
			}
		}
	}
	if len(matches) == 0 {
		return []authn.AuthConfig{{}}, nil
	}
	// Longer keys are more specific (a path, a port); among equals the secrets' order holds.
	slices.SortStableFunc(matches, func(a, b entry) int { return len(normaliseKey(b.key)) - len(normaliseKey(a.key)) })
	out := make([]authn.AuthConfig, len(matches))
	for i, m := range matches {
		out[i] = m.auth
	}
	return out, nil
}

// parseDockerConfig reads a .dockerconfigjson ({"auths": {KEY: {...}}}) or a legacy .dockercfg ({KEY: {...}}).
func parseDockerConfig(data []byte) (map[string]authn.AuthConfig, error) {
	var cfg struct {
		Auths map[string]authn.AuthConfig `json:"auths"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("not a docker config: %w", err)
	}
	if cfg.Auths != nil {
		return cfg.Auths, nil
	}
	var legacy map[string]authn.AuthConfig
	if err := json.Unmarshal(data, &legacy); err != nil {
		return nil, fmt.Errorf("not a docker config: %w", err)
	}
	if legacy == nil {
		return nil, errors.New("not a docker config: no auths")
	}
	return legacy, nil
}

// normaliseKey turns a docker config key into host[:port][/path]: no scheme, no API version path, and
// Docker Hub's many spellings as docker.io.
func normaliseKey(key string) string {
	k := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	k = strings.TrimSuffix(k, "/")
	host, p, _ := strings.Cut(k, "/")
	if p == "v1" || p == "v2" {
		p = ""
	}
	switch host {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		host = dockerHub
	}
	if p == "" {
		return host
	}
	return host + "/" + p
}

// keyMatches tells whether a config key covers the image: its host matches label by label (globs such
// as *.example.com allowed), its port is the same, and its path, if any, is a prefix of the repository.
func keyMatches(key string, r reference) bool {
	k := normaliseKey(key)
	keyHost, keyPath, _ := strings.Cut(k, "/")
	kh, kp := splitPort(keyHost)
	ih, ip := splitPort(r.registry)
	if kp != ip {
		return false
	}
	kl, il := strings.Split(kh, "."), strings.Split(ih, ".")
	if len(kl) != len(il) {
		return false
	}
	for i := range kl {
		if ok, _ := path.Match(kl[i], il[i]); !ok {
			return false
		}
	}
	return keyPath == "" || r.repository == keyPath || strings.HasPrefix(r.repository, keyPath+"/")
}

func splitPort(hostport string) (string, string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return h, p
	}
	return hostport, ""
}
