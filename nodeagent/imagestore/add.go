package imagestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiffhq/skiff/internal/atomicfile"
)

// source is an image read from an archive or a registry, ready to be added to the store.
type source struct {
	config  []byte
	layers  []blob   // in the order of the config's rootfs.diff_ids
	tags    []string // normalised references by tag
	digests []string // normalised references by digest
}

// blob is one layer as its source holds it: a tar, compressed or not.
type blob struct {
	size int64 // bytes open returns, for progress; 0 when unknown
	open func(ctx context.Context) (io.ReadCloser, error)
}

// errLayerGone says a layer that was there when an add began was removed by another store before the
// add could name it in the index; the add starts again.
var errLayerGone = errors.New("layer removed concurrently")

// add unpacks the layers src lacks in the store and records the image with its references. progress,
// if not nil, is told the bytes read of the layers that had to be fetched.
func (s *Store) add(ctx context.Context, src source, progress func(done, total int64)) (Image, error) {
	sum := sha256.Sum256(src.config)
	id := digestPrefix + hex.EncodeToString(sum[:])
	cfg, err := v1.ParseConfigFile(bytes.NewReader(src.config))
	if err != nil {
		return Image{}, fmt.Errorf("image config %s: %w", id, err)
	}
	diffIDs := make([]string, len(cfg.RootFS.DiffIDs))
	for i, d := range cfg.RootFS.DiffIDs {
		if d.Algorithm != "sha256" || !isHex64(d.Hex) {
			return Image{}, fmt.Errorf("image config %s: layer diffID %q is not a sha256 digest", id, d)
		}
		diffIDs[i] = d.String()
	}
	if len(diffIDs) != len(src.layers) {
		return Image{}, fmt.Errorf("image %s: config lists %d layers, the manifest %d", id, len(diffIDs), len(src.layers))
	}
	for attempt := 0; ; attempt++ {
		img, err := s.addOnce(ctx, id, src, diffIDs, progress)
		if !errors.Is(err, errLayerGone) || attempt == 2 {
			return img, err
		}
	}
}

// unpacked is a layer unpacked in the work dir, waiting to be renamed into layers/.
type unpacked struct {
	dir  string
	size int64
}

func (s *Store) addOnce(ctx context.Context, id string, src source, diffIDs []string, progress func(done, total int64)) (Image, error) {
	var missing []int
	var total int64
	for i, d := range diffIDs {
		if !slices.ContainsFunc(missing, func(j int) bool { return diffIDs[j] == d }) && !s.hasLayer(d) {
			missing = append(missing, i)
			total += src.layers[i].size
		}
	}
	var done atomic.Int64
	report := func(n int64) {
		if progress != nil {
			progress(done.Add(n), total)
		}
	}
	report(0)
	fresh := map[string]unpacked{}
	defer func() {
		for _, u := range fresh {
			os.RemoveAll(u.dir)
		}
	}()
	for _, i := range missing {
		u, err := s.unpack(ctx, diffIDs[i], src.layers[i], report)
		if err != nil {
			return Image{}, fmt.Errorf("layer %s: %w", diffIDs[i], err)
		}
		fresh[diffIDs[i]] = u
	}

	var img Image
	err := s.withLock(func(ix *index) (bool, error) {
		for _, d := range diffIDs {
			hexID := strings.TrimPrefix(d, digestPrefix)
			target := filepath.Join(s.root, "layers", hexID)
			_, statErr := os.Stat(target)
			u, ok := fresh[d]
			switch {
			case statErr == nil && ix.Layers[d] == nil:
				// Complete (it got there by rename) but unnamed: another store's add that failed left it.
				size, err := dirSize(target)
				if err != nil {
					return false, err
				}
				ix.Layers[d] = &layerRecord{Size: size}
			case statErr == nil:
			case ok:
				if err := os.Rename(u.dir, target); errors.Is(err, fs.ErrNotExist) {
					// Shared with a concurrent add of this store that failed and cleaned up.
					return false, errLayerGone
				} else if err != nil {
					return false, fmt.Errorf("store layer %s: %w", d, err)
				}
				ix.Layers[d] = &layerRecord{Size: u.size}
			default:
				return false, errLayerGone
			}
		}
		cfgPath := filepath.Join(s.root, "blobs", "sha256", strings.TrimPrefix(id, digestPrefix))
		if _, err := os.Stat(cfgPath); err != nil {
			if err := atomicfile.Write(cfgPath, src.config, 0o644); err != nil {
				return false, fmt.Errorf("store config %s: %w", id, err)
			}
		}
		now := s.now().UTC()
		rec := ix.Images[id]
		if rec == nil {
			rec = &imageRecord{ID: id, Layers: diffIDs, Created: now}
			ix.Images[id] = rec
		}
		rec.Removed = false
		rec.LastUsed = now
		// A reference names one image: one that moves here leaves its old image, which stays, untagged,
		// until garbage collection, as docker leaves a <none> image behind.
		for _, other := range ix.Images {
			if other != rec {
				other.RepoTags = slices.DeleteFunc(other.RepoTags, func(t string) bool { return slices.Contains(src.tags, t) })
				other.RepoDigests = slices.DeleteFunc(other.RepoDigests, func(t string) bool { return slices.Contains(src.digests, t) })
			}
		}
		rec.RepoTags = union(rec.RepoTags, src.tags)
		rec.RepoDigests = union(rec.RepoDigests, src.digests)
		img = ix.image(rec)
		return true, nil
	})
	return img, err
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func (s *Store) hasLayer(diffID string) bool {
	_, err := os.Stat(filepath.Join(s.root, "layers", strings.TrimPrefix(diffID, digestPrefix)))
	return err == nil
}

// unpack unpacks one layer into a new directory of the work dir. Concurrent adds of images sharing a
// layer unpack it once.
func (s *Store) unpack(ctx context.Context, diffID string, b blob, report func(int64)) (unpacked, error) {
	v, err, _ := s.unpacks.Do(diffID, func() (any, error) {
		dir, err := os.MkdirTemp(s.work, "layer-")
		if err != nil {
			return nil, err
		}
		size, err := s.unpackInto(ctx, dir, diffID, b, report)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		return unpacked{dir: dir, size: size}, nil
	})
	if err != nil {
		return unpacked{}, err
	}
	return v.(unpacked), nil
}

func (s *Store) unpackInto(ctx context.Context, dir, diffID string, b blob, report func(int64)) (int64, error) {
	rc, err := b.open(ctx)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	raw := &countingReader{r: rc, report: report}
	tr, err := decompress(raw)
	if err != nil {
		return 0, err
	}
	defer tr.Close()
	// The layer's root directory is the image's root: world-readable unless the layer says otherwise.
	if err := os.Chmod(dir, 0o755); err != nil {
		return 0, err
	}
	size, err := unpackLayer(ctx, tr, dir, diffID)
	if err != nil {
		return 0, err
	}
	// A registry's blob reader checks the blob's digest when it reaches its end.
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return 0, fmt.Errorf("read layer: %w", err)
	}
	return size, nil
}

type countingReader struct {
	r      io.Reader
	report func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.report(int64(n))
	}
	return n, err
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			size += fi.Size()
		}
		return nil
	})
	return size, err
}
