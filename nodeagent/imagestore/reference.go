package imagestore

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// dockerHub is the registry of names without one, spelled as the kubelet and containerd show it;
// go-containerregistry spells it index.docker.io.
const (
	dockerHub    = "docker.io"
	ggcrDocker   = "index.docker.io"
	defaultTag   = "latest"
	digestPrefix = "sha256:"
)

// Normalize returns the full form of an image reference, as containerd stores it: `busybox` and
// `busybox:latest` are `docker.io/library/busybox:latest`, `foo/bar` is `docker.io/foo/bar:latest`, and a
// reference with a digest keeps the digest and drops any tag (`busybox:1@sha256:...` is
// `docker.io/library/busybox@sha256:...`), since the digest alone says which image it is.
func Normalize(ref string) (string, error) {
	r, err := parse(ref)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}

// reference is a parsed, normalised image reference: repository plus a tag or a digest.
type reference struct {
	registry   string // docker.io, 127.0.0.1:5000, ...
	repository string // library/busybox
	tag        string
	digest     string
}

// Name is the repository's full name: docker.io/library/busybox.
func (r reference) Name() string { return r.registry + "/" + r.repository }

func (r reference) String() string {
	if r.digest != "" {
		return r.Name() + "@" + r.digest
	}
	return r.Name() + ":" + r.tag
}

// ggcr is the reference for go-containerregistry's remote package; insecure allows plain HTTP.
func (r reference) ggcr(insecure bool) (name.Reference, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(r.String(), opts...)
}

func parse(ref string) (reference, error) {
	if ref == "" {
		return reference{}, fmt.Errorf("empty image reference")
	}
	if strings.ContainsAny(ref, " \t\n") || strings.HasPrefix(ref, "sha256:") {
		return reference{}, fmt.Errorf("invalid image reference %q", ref)
	}
	base, digest, hasDigest := strings.Cut(ref, "@")
	var r reference
	if hasDigest {
		if strings.Contains(digest, "@") {
			return reference{}, fmt.Errorf("invalid image reference %q: more than one @", ref)
		}
		d, err := name.NewDigest(base+"@"+digest, name.WithDefaultRegistry(dockerHub))
		if err != nil {
			return reference{}, fmt.Errorf("invalid image reference %q: %w", ref, err)
		}
		r.registry, r.repository, r.digest = d.RegistryStr(), d.RepositoryStr(), d.DigestStr()
	} else {
		t, err := name.NewTag(base, name.WithDefaultRegistry(dockerHub), name.WithDefaultTag(defaultTag))
		if err != nil {
			return reference{}, fmt.Errorf("invalid image reference %q: %w", ref, err)
		}
		r.registry, r.repository, r.tag = t.RegistryStr(), t.RepositoryStr(), t.TagStr()
	}
	if r.registry == ggcrDocker {
		r.registry = dockerHub
	}
	// go-containerregistry adds library/ only for index.docker.io; docker.io names need it too.
	if r.registry == dockerHub && !strings.Contains(r.repository, "/") {
		r.repository = "library/" + r.repository
	}
	return r, nil
}

// isImageID tells whether s names an image by its ID (sha256:<64 hex>) rather than by reference.
func isImageID(s string) bool {
	hex, ok := strings.CutPrefix(s, digestPrefix)
	return ok && isHex64(hex)
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
