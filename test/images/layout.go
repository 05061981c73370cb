package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is the time of every file, layer and image, so that the same inputs give the same digests.
var epoch = time.Unix(0, 0).UTC()

// annotationRefName names an image in an OCI layout's index; the node's image store reads the full
// reference from it.
const annotationRefName = "org.opencontainers.image.ref.name"

// entry is a file of a layer.
type entry struct {
	name     string // relative to the root, without a leading slash
	mode     int64
	typ      byte
	data     []byte
	linkname string
}

// layer makes a reproducible OCI layer of entries: sorted by name, owned by root, all at epoch.
func layer(entries []entry) (v1.Layer, error) {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, e := range entries {
		if i > 0 && entries[i-1].name == e.name {
			return nil, fmt.Errorf("%s twice in a layer", e.name)
		}
		hdr := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.typ, Linkname: e.linkname, ModTime: epoch,
			Uid: 0, Gid: 0, Format: tar.FormatPAX}
		if e.typ == tar.TypeDir {
			hdr.Name += "/"
		}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// image stacks layers, bottom first, under cfg, as an OCI image for this machine's platform.
func image(layers []v1.Layer, cfg v1.Config) (v1.Image, error) {
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	adds := make([]mutate.Addendum, 0, len(layers))
	for _, l := range layers {
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{Created: v1.Time{Time: epoch}}})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = goruntime.GOARCH, "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// writeLayoutTar writes img, named ref, as a tar of an OCI image layout: oci-layout, index.json and
// the blobs, in a fixed order with fixed times. It replaces path atomically.
func writeLayoutTar(path, ref string, img v1.Image) error {
	if err := writeLayoutTarTo(path, ref, img); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeLayoutTarTo(path, ref string, img v1.Image) error {
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	mediaType, err := img.MediaType()
	if err != nil {
		return err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	configName, err := img.ConfigName()
	if err != nil {
		return err
	}
	index, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: mediaType, Size: int64(len(manifest)), Digest: digest,
			Annotations: map[string]string{annotationRefName: ref},
		}},
	})
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}

	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	tw := tar.NewWriter(f)
	file := func(name string, size int64, r io.Reader) error {
		hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		n, err := io.Copy(tw, r)
		if err == nil && n != size {
			err = fmt.Errorf("%s: %d bytes, want %d", name, n, size)
		}
		return err
	}
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
	}
	layout := []byte(`{"imageLayoutVersion":"1.0.0"}`)
	if err := file("oci-layout", int64(len(layout)), bytes.NewReader(layout)); err != nil {
		return err
	}
	if err := file("index.json", int64(len(index)), bytes.NewReader(index)); err != nil {
		return err
	}
	if err := dir("blobs/"); err != nil {
		return err
	}
	if err := dir("blobs/sha256/"); err != nil {
		return err
	}
	// Blobs sorted by digest; a layer an image repeats is written once.
	type blob struct {
		digest v1.Hash
		size   int64
		open   func() (io.ReadCloser, error)
	}
	small := func(b []byte) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	blobs := []blob{{digest, int64(len(manifest)), small(manifest)}, {configName, int64(len(config)), small(config)}}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		blobs = append(blobs, blob{d, size, l.Compressed})
	}
	slices.SortFunc(blobs, func(a, b blob) int { return strings.Compare(a.digest.Hex, b.digest.Hex) })
	for i, b := range blobs {
		if i > 0 && blobs[i-1].digest == b.digest {
			continue
		}
		rc, err := b.open()
		if err != nil {
			return err
		}
		err = file("blobs/sha256/"+b.digest.Hex, b.size, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Load returns the image of a tarball Build wrote, for tests that push it to a registry. The image
// reads its blobs from the tarball when asked, so the file must stay until the image is no longer used.
func Load(path string) (v1.Image, error) {
	img, err := load(path)
	if err != nil {
		return nil, fmt.Errorf("load image %s: %w", path, err)
	}
	return img, nil
}

func load(p string) (v1.Image, error) {
	lt, err := indexLayoutTar(p)
	if err != nil {
		return nil, err
	}
	data, err := lt.read("index.json", nil)
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	if len(idx.Manifests) != 1 {
		return nil, fmt.Errorf("index.json lists %d manifests, want 1", len(idx.Manifests))
	}
	desc := idx.Manifests[0]
	if !desc.MediaType.IsImage() {
		return nil, fmt.Errorf("index.json lists a %s, not an image manifest", desc.MediaType)
	}
	manifest, err := lt.read(blobName(desc.Digest), &desc.Digest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	config, err := lt.read(blobName(m.Config.Digest), &m.Config.Digest)
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if _, ok := lt.files[blobName(l.Digest)]; !ok {
			return nil, fmt.Errorf("layer %s is not in the tarball", l.Digest)
		}
	}
	return partial.CompressedToImage(&layoutImage{lt: lt, manifest: manifest, parsed: m, config: config, mediaType: desc.MediaType})
}

func blobName(d v1.Hash) string { return path.Join("blobs", d.Algorithm, d.Hex) }

// layoutTar reads the files of a tarred OCI layout by their offsets in it, opening the tarball anew for
// each read so that an image holds no file open between reads.
type layoutTar struct {
	path  string
	files map[string]section
}

type section struct{ offset, size int64 }

func indexLayoutTar(p string) (*layoutTar, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lt := &layoutTar{path: p, files: map[string]section{}}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a tarball of an OCI layout: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		// archive/tar reads no further than a header: the file's content starts here.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		lt.files[path.Clean("/" + hdr.Name)[1:]] = section{off, hdr.Size}
	}
	if _, ok := lt.files["index.json"]; !ok {
		return nil, errors.New("not a tarball of an OCI layout: no index.json")
	}
	return lt, nil
}

func (lt *layoutTar) open(name string) (io.ReadCloser, error) {
	s, ok := lt.files[name]
	if !ok {
		return nil, fmt.Errorf("%s is not in %s", name, lt.path)
	}
	f, err := os.Open(lt.path)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, s.offset, s.size), f}, nil
}

// read returns a small file, checked against want when given.
func (lt *layoutTar) read(name string, want *v1.Hash) ([]byte, error) {
	if s, ok := lt.files[name]; ok && s.size > 8<<20 {
		return nil, fmt.Errorf("%s: %d bytes is too large for metadata", name, s.size)
	}
	rc, err := lt.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if want != nil {
		if sum := sha256.Sum256(data); want.Algorithm != "sha256" || hex.EncodeToString(sum[:]) != want.Hex {
			return nil, fmt.Errorf("%s does not match its digest %s", name, want)
		}
	}
	return data, nil
}

// layoutImage is the image of a layoutTar, for partial.CompressedToImage.
type layoutImage struct {
	lt        *layoutTar
	manifest  []byte
	parsed    *v1.Manifest
	config    []byte
	mediaType types.MediaType
}

func (i *layoutImage) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i *layoutImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }
func (i *layoutImage) RawManifest() ([]byte, error)        { return i.manifest, nil }

func (i *layoutImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, d := range append([]v1.Descriptor{i.parsed.Config}, i.parsed.Layers...) {
		if d.Digest == h {
			return &layoutLayer{lt: i.lt, desc: d}, nil
		}
	}
	return nil, fmt.Errorf("blob %s is not in the image", h)
}

// layoutLayer is one blob of a layoutTar.
type layoutLayer struct {
	lt   *layoutTar
	desc v1.Descriptor
}

func (l *layoutLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *layoutLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *layoutLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *layoutLayer) Compressed() (io.ReadCloser, error)  { return l.lt.open(blobName(l.desc.Digest)) }
