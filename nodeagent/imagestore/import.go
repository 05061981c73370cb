package imagestore

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	goruntime "runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations naming an image in an OCI layout: containerd writes the full reference in its own, the
// OCI one may hold only a tag.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// maxMetadata bounds the JSON documents read whole into memory (manifests, configs, indexes).
const maxMetadata = 8 << 20

// Import adds every image of an archive: an OCI image layout (a directory, or a tar of one, index.json at
// its root) or a docker archive (manifest.json at its root, as `docker save` and go-containerregistry's
// tarball.Write make). A tar may be gzip-compressed. Images are named by the tags the archive gives
// them; an OCI layout's multi-platform index gives the image for this machine's platform.
func (s *Store) Import(ctx context.Context, archivePath string) ([]Image, error) {
	a, err := s.openArchive(archivePath)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", archivePath, err)
	}
	defer a.Close()
	var sources []source
	switch {
	case a.Has("manifest.json"):
		sources, err = dockerArchive(a)
	case a.Has("index.json"):
		sources, err = ociLayout(a)
	default:
		err = errors.New("neither an OCI image layout (index.json) nor a docker archive (manifest.json)")
	}
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", archivePath, err)
	}
	images := make([]Image, 0, len(sources))
	for _, src := range sources {
		img, err := s.add(ctx, src, nil)
		if err != nil {
			return images, fmt.Errorf("import %s: %w", archivePath, err)
		}
		images = append(images, img)
	}
	return images, nil
}

// archive is a directory or a tar file read by the names of its files.
type archive interface {
	Has(name string) bool
	Size(name string) int64
	Open(name string) (io.ReadCloser, error)
	Close() error
}

func readSmall(a archive, name string) ([]byte, error) {
	rc, err := a.Open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxMetadata+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxMetadata {
		return nil, fmt.Errorf("read %s: larger than %d bytes", name, maxMetadata)
	}
	return data, nil
}

func blobFrom(a archive, name string) blob {
	return blob{size: a.Size(name), open: func(context.Context) (io.ReadCloser, error) { return a.Open(name) }}
}

// dockerManifestEntry is one image of a docker archive's manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func dockerArchive(a archive) ([]source, error) {
	data, err := readSmall(a, "manifest.json")
	if err != nil {
		return nil, err
	}
	var entries []dockerManifestEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if len(entries) == 0 {
		return nil, errors.New("manifest.json lists no image")
	}
	var out []source
	for _, e := range entries {
		src := source{}
		if src.config, err = readSmall(a, e.Config); err != nil {
			return nil, fmt.Errorf("config of %v: %w", e.RepoTags, err)
		}
		for _, l := range e.Layers {
			if !a.Has(l) {
				return nil, fmt.Errorf("layer %s of %v is not in the archive", l, e.RepoTags)
			}
			src.layers = append(src.layers, blobFrom(a, l))
		}
		for _, t := range e.RepoTags {
			n, err := Normalize(t)
			if err != nil {
				return nil, fmt.Errorf("tag of an image: %w", err)
			}
			src.tags = append(src.tags, n)
		}
		out = append(out, src)
	}
	return out, nil
}

func ociLayout(a archive) ([]source, error) {
	data, err := readSmall(a, "index.json")
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	var out []source
	for _, desc := range idx.Manifests {
		var names []string
		for _, key := range []string{annotationContainerdName, annotationRefName} {
			// A bare tag ("v1") names no repository; only full references count.
			if v := desc.Annotations[key]; v != "" && strings.ContainsAny(v, "/:@") {
				n, err := Normalize(v)
				if err != nil {
					return nil, fmt.Errorf("name of %s: %w", desc.Digest, err)
				}
				names = append(names, n)
			}
		}
		manifest, err := resolveManifest(a, desc, 0)
		if err != nil {
			return nil, err
		}
		if manifest == nil {
			continue // an image for another platform
		}
		src := source{}
		if src.config, err = readBlob(a, manifest.Config.Digest); err != nil {
			return nil, fmt.Errorf("config of %s: %w", desc.Digest, err)
		}
		for _, l := range manifest.Layers {
			name := blobPath(l.Digest)
			if !a.Has(name) {
				return nil, fmt.Errorf("layer %s of %s is not in the archive", l.Digest, desc.Digest)
			}
			src.layers = append(src.layers, blobFrom(a, name))
		}
		for _, n := range union(nil, names) {
			r, _ := parse(n)
			if r.digest == "" {
				src.tags = append(src.tags, n)
				r.tag, r.digest = "", desc.Digest.String()
			}
			src.digests = union(src.digests, []string{r.String()})
		}
		out = append(out, src)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("index.json holds no image for linux/%s", goruntime.GOARCH)
	}
	return out, nil
}

// resolveManifest reads the image manifest desc names, choosing this platform's in an index. It returns
// nil for an image of another platform.
func resolveManifest(a archive, desc v1.Descriptor, depth int) (*v1.Manifest, error) {
	if depth > 4 {
		return nil, errors.New("indexes nested too deep")
	}
	if desc.Platform != nil && !platformMatches(desc.Platform) {
		return nil, nil
	}
	data, err := readBlob(a, desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	switch desc.MediaType {
	case types.OCIImageIndex, types.DockerManifestList:
		idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		for _, d := range idx.Manifests {
			m, err := resolveManifest(a, d, depth+1)
			if err != nil || m != nil {
				return m, err
			}
		}
		return nil, nil
	case types.OCIManifestSchema1, types.DockerManifestSchema2, "":
		m, err := v1.ParseManifest(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		return m, nil
	default:
		return nil, fmt.Errorf("manifest %s has media type %s, not an image", desc.Digest, desc.MediaType)
	}
}

func platformMatches(p *v1.Platform) bool {
	return (p.OS == "" || p.OS == "linux") && (p.Architecture == "" || p.Architecture == goruntime.GOARCH)
}

func blobPath(d v1.Hash) string { return path.Join("blobs", d.Algorithm, d.Hex) }

// readBlob reads a small blob of an OCI layout and checks its digest.
func readBlob(a archive, d v1.Hash) ([]byte, error) {
	if d.Algorithm != "sha256" || !isHex64(d.Hex) {
		return nil, fmt.Errorf("unsupported digest %q", d)
	}
	data, err := readSmall(a, blobPath(d))
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != d.Hex {
		return nil, fmt.Errorf("blob %s does not match its digest", d)
	}
	return data, nil
}

func (s *Store) openArchive(p string) (archive, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		root, err := os.OpenRoot(p)
		if err != nil {
			return nil, err
		}
		return dirArchive{root}, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	magic := make([]byte, 2)
	if _, err := io.ReadFull(f, magic); err != nil {
		f.Close()
		return nil, fmt.Errorf("read: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	var temp string
	if bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		// Reading files of a tar by offset needs it uncompressed: unpack it beside the store's work.
		temp, err = s.gunzip(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		if f, err = os.Open(temp); err != nil {
			os.Remove(temp)
			return nil, err
		}
	}
	t, err := indexTar(f)
	if err != nil {
		f.Close()
		if temp != "" {
			os.Remove(temp)
		}
		return nil, err
	}
	t.temp = temp
	return t, nil
}

func (s *Store) gunzip(f *os.File) (string, error) {
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("gzip: %w", err)
	}
	out, err := os.CreateTemp(s.work, "archive-*.tar")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, zr)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", fmt.Errorf("gunzip: %w", err)
	}
	return out.Name(), nil
}

type dirArchive struct{ root *os.Root }

func (d dirArchive) Has(name string) bool {
	fi, err := d.root.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}

func (d dirArchive) Size(name string) int64 {
	if fi, err := d.root.Stat(name); err == nil {
		return fi.Size()
	}
	return 0
}

func (d dirArchive) Open(name string) (io.ReadCloser, error) { return d.root.Open(name) }
func (d dirArchive) Close() error                            { return d.root.Close() }

// tarArchive reads the files of a tar by their offsets, found in one pass.
type tarArchive struct {
	f       *os.File
	temp    string // a gunzipped copy to remove at Close
	entries map[string]tarEntry
	links   map[string]string
}

type tarEntry struct{ offset, size int64 }

func indexTar(f *os.File) (*tarArchive, error) {
	t := &tarArchive{f: f, entries: map[string]tarEntry{}, links: map[string]string{}}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		name := path.Clean("/" + hdr.Name)[1:]
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			// archive/tar reads no further than a header: the file's content starts here.
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, err
			}
			t.entries[name] = tarEntry{offset: off, size: hdr.Size}
		case tar.TypeSymlink:
			t.links[name] = path.Clean("/" + path.Join(path.Dir(name), hdr.Linkname))[1:]
			if path.IsAbs(hdr.Linkname) {
				t.links[name] = path.Clean(hdr.Linkname)[1:]
			}
		case tar.TypeLink:
			t.links[name] = path.Clean("/" + hdr.Linkname)[1:]
		}
	}
	return t, nil
}

func (t *tarArchive) lookup(name string) (tarEntry, bool) {
	name = path.Clean("/" + name)[1:]
	for range 8 {
		if e, ok := t.entries[name]; ok {
			return e, true
		}
		target, ok := t.links[name]
		if !ok {
			break
		}
		name = target
	}
	return tarEntry{}, false
}

func (t *tarArchive) Has(name string) bool { _, ok := t.lookup(name); return ok }

func (t *tarArchive) Size(name string) int64 { e, _ := t.lookup(name); return e.size }

func (t *tarArchive) Open(name string) (io.ReadCloser, error) {
	e, ok := t.lookup(name)
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, e.offset, e.size)), nil
}

func (t *tarArchive) Close() error {
	err := t.f.Close()
	if t.temp != "" {
		os.Remove(t.temp)
	}
	return err
}
