package defaults

import (
	"regexp"
	"strings"
)

// The grammar of container image references (github.com/distribution/reference), which upstream parses to
// choose a pull policy: name[:tag][@digest], where the name is an optional registry host and lower-case
// path components.
var (
	imageReference = func() *regexp.Regexp {
		const (
			pathComponent   = `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
			domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
			host            = `(?:` + domainComponent + `(?:\.` + domainComponent + `)*|\[[a-fA-F0-9:]+\])`
			domain          = host + `(?::[0-9]+)?`
			name            = `(?:` + domain + `/)?` + pathComponent + `(?:/` + pathComponent + `)*`
			tag             = `[\w][\w.-]{0,127}`
			digest          = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
		)
		return regexp.MustCompile(`^(` + name + `)(?::(` + tag + `))?(?:@(` + digest + `))?$`)
	}()
	// A bare 64-hex-digit string is an image ID, which the normalizing parser refuses as a name.
	imageID = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

// digestHexLength holds the digest algorithms a reference may use and the length of their hex encoding.
var digestHexLength = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}

// imageTag returns the tag an image reference asks for, "latest" when it names neither a tag nor a digest,
// and ok=false when the reference does not parse, as upstream's parsers.ParseImageName.
func imageTag(image string) (tag string, ok bool) {
	if imageID.MatchString(image) {
		return "", false
	}
	m := imageReference.FindStringSubmatch(image)
	if m == nil {
		return "", false
	}
	name, tag, digest := m[1], m[2], m[3]

	// Normalization adds docker.io (and library/ for one-component names) unless the first component is a
	// registry host: it has a dot or a port, is localhost, or has upper-case letters (which a path may not).
	remote, normalized := name, name
	if i := strings.IndexByte(name, '/'); i < 0 {
		normalized = "docker.io/library/" + name
	} else if first := name[:i]; strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
		remote = name[i+1:]
	} else {
		normalized = "docker.io/" + name
	}
	if strings.ToLower(remote) != remote || len(normalized) > 255 {
		return "", false
	}

	if digest != "" {
		algorithm, hex, _ := strings.Cut(digest, ":")
		if n, known := digestHexLength[algorithm]; !known || len(hex) != n || strings.ToLower(hex) != hex {
			return "", false
		}
	}
	if tag == "" && digest == "" {
		tag = "latest"
	}
	return tag, true
}
