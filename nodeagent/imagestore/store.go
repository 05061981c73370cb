package imagestore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/singleflight"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/internal/atomicfile"
)

// ErrNotFound is returned for a reference or ID that names no image of the store.
var ErrNotFound = errors.New("image not found")

// Image is an image of the store.
type Image struct {
	// ID is the digest of the image's config (sha256:<hex>), as CRI runtimes report image IDs.
	ID string
	// RepoTags are the tagged references naming the image: docker.io/library/busybox:latest.
	RepoTags []string
	// RepoDigests are the references by manifest digest it was pulled or imported as:
	// docker.io/library/busybox@sha256:<hex>. Images from docker archives have none, as with docker load.
	RepoDigests []string
	// Layers are the layers' diffIDs, bottom layer first.
	Layers []string
	// Size is the bytes of file content in its unpacked layers, shared ones included.
	Size int64
	// Created is when the store first got the image.
	Created time.Time
	// LastUsed is when the image was last pulled, imported or seen in use by garbage collection.
	LastUsed time.Time
	// Leases name the holders (containers) that keep the image from removal.
	Leases []string
}

// Store is the image store of one data directory. Its methods are safe for concurrent use.
type Store struct {
	root string // DIR/images

	lock    *os.File // DIR/images/lock
	work    string   // DIR/images/tmp/<id>: this store's unpacks in progress
	workKey *os.File // flocked while this store lives, so others know work is not stale

	mu       sync.Mutex // serialises this store's changes; guards the fields below
	cached   *index
	cachedAt os.FileInfo
	configs  map[string]*v1.ConfigFile

	unpacks singleflight.Group
	now     func() time.Time
}

// index is the content of index.json.
type index struct {
	Version int                     `json:"version"`
	Images  map[string]*imageRecord `json:"images"`
	Layers  map[string]*layerRecord `json:"layers"`
}

type imageRecord struct {
	ID          string    `json:"id"`
	Layers      []string  `json:"layers"`
	RepoTags    []string  `json:"repoTags,omitempty"`
	RepoDigests []string  `json:"repoDigests,omitempty"`
	Created     time.Time `json:"created"`
	LastUsed    time.Time `json:"lastUsed"`
	Leases      []string  `json:"leases,omitempty"`
	// Removed marks an image removed while leased: it goes when its last lease does.
	Removed bool `json:"removed,omitempty"`
}

type layerRecord struct {
	Size int64 `json:"size"`
}

const indexVersion = 1

// Open opens the store of the data directory dir (its images live in dir/images), creating it if
// needed, and removes what a crashed store left behind. Close releases it.
func Open(dir string) (*Store, error) {
	root := filepath.Join(dir, "images")
	for _, d := range []string{filepath.Join(root, "blobs", "sha256"), filepath.Join(root, "layers"), filepath.Join(root, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(root, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	s := &Store{root: root, lock: lock, configs: map[string]*v1.ConfigFile{}, now: time.Now}
	if err := s.makeWork(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("image store: %w", err)
	}
	if err := s.withLock(func(ix *index) (bool, error) { return false, s.sweep(ix) }); err != nil {
		s.Close()
		return nil, fmt.Errorf("image store: %w", err)
	}
	return s, nil
}

// makeWork creates this store's work directory and holds the flock that marks it alive.
func (s *Store) makeWork() error {
	b := make([]byte, 8)
	rand.Read(b)
	id := fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(b))
	key, err := os.OpenFile(filepath.Join(s.root, "tmp", id+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := unix.Flock(int(key.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		key.Close()
		return fmt.Errorf("lock work dir: %w", err)
	}
	s.work, s.workKey = filepath.Join(s.root, "tmp", id), key
	return os.Mkdir(s.work, 0o700)
}

// Close releases the store and removes its work directory. The store must not be used after.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.workKey == nil {
		return nil
	}
	err := os.RemoveAll(s.work)
	os.Remove(s.workKey.Name())
	s.workKey.Close()
	s.lock.Close()
	s.workKey = nil
	return err
}

// sweep removes work directories of stores that are gone and layer directories no image names. It
// runs under the lock, so no other store is between unpacking a layer and naming it in the index.
func (s *Store) sweep(ix *index) error {
	tmp := filepath.Join(s.root, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok {
			if _, err := os.Stat(filepath.Join(tmp, e.Name()+".lock")); errors.Is(err, fs.ErrNotExist) {
				os.RemoveAll(filepath.Join(tmp, e.Name())) // a store that died between its two files
			}
			continue
		}
		key, err := os.OpenFile(filepath.Join(tmp, e.Name()), os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(key.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			if err := os.RemoveAll(filepath.Join(tmp, id)); err != nil {
				key.Close()
				return fmt.Errorf("remove stale work dir: %w", err)
			}
			os.Remove(key.Name())
		}
		key.Close()
	}
	used := ix.usedLayers()
	layers, err := os.ReadDir(filepath.Join(s.root, "layers"))
	if err != nil {
		return err
	}
	for _, e := range layers {
		if !used[digestPrefix+e.Name()] {
			if err := s.removeLayerDir(e.Name()); err != nil {
				return err
			}
		}
	}
	for diffID := range ix.Layers {
		if !used[diffID] {
			delete(ix.Layers, diffID)
		}
	}
	return nil
}

// removeLayerDir moves a layer out of layers/ in one rename before deleting it, so that a crash in
// the middle never leaves half a layer where a whole one is expected.
func (s *Store) removeLayerDir(hexID string) error {
	trash, err := os.MkdirTemp(s.work, "trash-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(trash)
	if err := os.Rename(filepath.Join(s.root, "layers", hexID), filepath.Join(trash, hexID)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove layer %s: %w", hexID, err)
	}
	return os.RemoveAll(trash)
}

// withLock runs fn on the current index under the store lock, and saves the index if fn changed it.
func (s *Store) withLock(fn func(ix *index) (changed bool, err error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.workKey == nil {
		return errors.New("image store is closed")
	}
	if err := unix.Flock(int(s.lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock image store: %w", err)
	}
	defer unix.Flock(int(s.lock.Fd()), unix.LOCK_UN)
	ix, fi, err := s.readIndex()
	if err != nil {
		return err
	}
	changed, err := fn(ix)
	if err != nil {
		return err // fn may have changed ix half way: the file stays the truth
	}
	if !changed {
		s.cached, s.cachedAt = ix, fi
		return nil
	}
	data, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(s.root, "index.json")
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	if fi, err = os.Stat(path); err != nil {
		return err
	}
	s.cached, s.cachedAt = ix, fi
	return nil
}

// snapshot returns the current index for reading; the caller must not change it. It is read again only
// when the file changed, which any writer does by renaming a new file over it.
func (s *Store) snapshot() (*index, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(filepath.Join(s.root, "index.json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if s.cached != nil && sameFile(fi, s.cachedAt) {
		return s.cached, nil
	}
	ix, fi, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	s.cached, s.cachedAt = ix, fi
	return ix, nil
}

func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	sa, oka := a.Sys().(*syscall.Stat_t)
	sb, okb := b.Sys().(*syscall.Stat_t)
	return oka && okb && sa.Ino == sb.Ino && sa.Dev == sb.Dev && a.Size() == b.Size() &&
		a.ModTime().Equal(b.ModTime()) && sa.Ctim == sb.Ctim
}

func (s *Store) readIndex() (*index, os.FileInfo, error) {
	path := filepath.Join(s.root, "index.json")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &index{Version: indexVersion, Images: map[string]*imageRecord{}, Layers: map[string]*layerRecord{}}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	var ix index
	dec := json.NewDecoder(f)
	if err := dec.Decode(&ix); err != nil {
		return nil, nil, fmt.Errorf("read image index %s: %w", path, err)
	}
	if ix.Version != indexVersion {
		return nil, nil, fmt.Errorf("image index %s has version %d, this build reads %d", path, ix.Version, indexVersion)
	}
	if ix.Images == nil {
		ix.Images = map[string]*imageRecord{}
	}
	if ix.Layers == nil {
		ix.Layers = map[string]*layerRecord{}
	}
	return &ix, fi, nil
}

func (ix *index) usedLayers() map[string]bool {
	used := map[string]bool{}
	for _, img := range ix.Images {
		for _, l := range img.Layers {
			used[l] = true
		}
	}
	return used
}

func (ix *index) image(rec *imageRecord) Image {
	img := Image{
		ID:          rec.ID,
		RepoTags:    slices.Clone(rec.RepoTags),
		RepoDigests: slices.Clone(rec.RepoDigests),
		Layers:      slices.Clone(rec.Layers),
		Created:     rec.Created,
		LastUsed:    rec.LastUsed,
		Leases:      slices.Clone(rec.Leases),
	}
	seen := map[string]bool{}
	for _, l := range rec.Layers {
		if !seen[l] {
			seen[l] = true
			if lr := ix.Layers[l]; lr != nil {
				img.Size += lr.Size
			}
		}
	}
	return img
}

// resolve finds the image named by ref: an image ID (with or without sha256:, or a unique prefix of at
// least 4 hex digits, as crictl takes them), or a reference by tag or digest.
func (ix *index) resolve(ref string) (*imageRecord, error) {
	if isImageID(ref) {
		if rec := ix.Images[ref]; rec != nil {
			return rec, nil
		}
		return nil, ErrNotFound
	}
	if r, err := parse(ref); err == nil {
		want := r.String()
		for _, rec := range ix.Images {
			if slices.Contains(rec.RepoTags, want) || slices.Contains(rec.RepoDigests, want) {
				return rec, nil
			}
		}
	}
	if prefix := strings.TrimPrefix(ref, digestPrefix); len(prefix) >= 4 && isHexPrefix(prefix) {
		var found *imageRecord
		for id, rec := range ix.Images {
			if strings.HasPrefix(id, digestPrefix+prefix) {
				if found != nil {
					return nil, errors.New("the ID prefix names more than one image")
				}
				found = rec
			}
		}
		if found != nil {
			return found, nil
		}
	}
	if _, err := parse(ref); err != nil && !isHexPrefix(strings.TrimPrefix(ref, digestPrefix)) {
		return nil, err
	}
	return nil, ErrNotFound
}

func isHexPrefix(s string) bool {
	return s != "" && len(s) <= 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// Get returns the image named by ref (a reference, normalised as Normalize does, or an image ID).
func (s *Store) Get(ref string) (Image, bool) {
	ix, err := s.snapshot()
	if err != nil {
		return Image{}, false
	}
	rec, err := ix.resolve(ref)
	if err != nil {
		return Image{}, false
	}
	return ix.image(rec), true
}

// List returns every image, ordered by their first tag, untagged ones last by ID.
func (s *Store) List() ([]Image, error) {
	ix, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(ix.Images))
	for _, rec := range ix.Images {
		out = append(out, ix.image(rec))
	}
	slices.SortFunc(out, func(a, b Image) int {
		switch {
		case len(a.RepoTags) > 0 && len(b.RepoTags) > 0:
			return strings.Compare(a.RepoTags[0], b.RepoTags[0])
		case len(a.RepoTags) > 0:
			return -1
		case len(b.RepoTags) > 0:
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Remove removes a reference. When ref is a tag and the image has no tag left, or ref is a digest
// reference and nothing names the image any more, or ref is the image's ID, the image is deleted with
// every reference, and so are the layers no other image uses. An image under lease loses its
// references at once but stays on disk until its last lease is released.
func (s *Store) Remove(ctx context.Context, ref string) error {
	var trash []string
	err := s.withLock(func(ix *index) (bool, error) {
		rec, err := ix.resolve(ref)
		if err != nil {
			return false, err
		}
		deleteAll := isImageID(ref) || !slices.Contains(rec.RepoTags, mustNormalize(ref)) && !slices.Contains(rec.RepoDigests, mustNormalize(ref))
		if !deleteAll {
			r := mustNormalize(ref)
			rec.RepoTags = slices.DeleteFunc(rec.RepoTags, func(t string) bool { return t == r })
			rec.RepoDigests = slices.DeleteFunc(rec.RepoDigests, func(t string) bool { return t == r })
			// As docker rmi: an image without tags is gone, whatever digests it was known by.
			deleteAll = len(rec.RepoTags) == 0
		}
		if deleteAll {
			rec.RepoTags, rec.RepoDigests, rec.Removed = nil, nil, true
			if len(rec.Leases) == 0 {
				trash = s.deleteImage(ix, rec)
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	return s.emptyTrash(trash)
}

func mustNormalize(ref string) string {
	n, err := Normalize(ref)
	if err != nil {
		return ref
	}
	return n
}

// deleteImage drops an image from the index and moves its config and the layers no other image uses
// out of place. It returns what to delete once the lock is released.
func (s *Store) deleteImage(ix *index, rec *imageRecord) []string {
	delete(ix.Images, rec.ID)
	used := ix.usedLayers()
	var trash []string
	move := func(from, name string) {
		dir, err := os.MkdirTemp(s.work, "trash-")
		if err != nil {
			return // left in place, unnamed: the next sweep takes it
		}
		trash = append(trash, dir)
		os.Rename(from, filepath.Join(dir, name))
	}
	for _, l := range rec.Layers {
		if !used[l] && ix.Layers[l] != nil {
			delete(ix.Layers, l)
			hexID := strings.TrimPrefix(l, digestPrefix)
			move(filepath.Join(s.root, "layers", hexID), hexID)
		}
	}
	hexID := strings.TrimPrefix(rec.ID, digestPrefix)
	move(filepath.Join(s.root, "blobs", "sha256", hexID), hexID)
	return trash
}

func (s *Store) emptyTrash(paths []string) error {
	var errs []error
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Lease keeps the image named by ref on disk for holder (a container ID) until Release: Remove and
// garbage collection leave it, as containerd's leases keep a running container's snapshots.
func (s *Store) Lease(ctx context.Context, ref, holder string) (Image, error) {
	var img Image
	err := s.withLock(func(ix *index) (bool, error) {
		rec, err := ix.resolve(ref)
		if err != nil {
			return false, err
		}
		img = ix.image(rec)
		if slices.Contains(rec.Leases, holder) {
			return false, nil
		}
		rec.Leases = append(rec.Leases, holder)
		slices.Sort(rec.Leases)
		rec.LastUsed = s.now().UTC()
		img = ix.image(rec)
		return true, nil
	})
	if err != nil {
		return Image{}, fmt.Errorf("lease image %s: %w", ref, err)
	}
	return img, nil
}

// Release drops holder's leases. An image removed while leased is deleted with its last lease.
func (s *Store) Release(ctx context.Context, holder string) error {
	var trash []string
	err := s.withLock(func(ix *index) (bool, error) {
		changed := false
		for _, rec := range ix.Images {
			if !slices.Contains(rec.Leases, holder) {
				continue
			}
			changed = true
			rec.Leases = slices.DeleteFunc(rec.Leases, func(h string) bool { return h == holder })
			rec.LastUsed = s.now().UTC()
			if len(rec.Leases) == 0 && rec.Removed {
				trash = append(trash, s.deleteImage(ix, rec)...)
			}
		}
		return changed, nil
	})
	if err != nil {
		return fmt.Errorf("release image lease of %s: %w", holder, err)
	}
	return s.emptyTrash(trash)
}

// LayerDirs returns the image's layer directories in overlayfs lowerdir order: top layer first. A layer
// that an image repeats appears once, at its topmost place, since overlayfs refuses a lower dir twice.
func (s *Store) LayerDirs(img Image) []string {
	dirs := make([]string, 0, len(img.Layers))
	seen := map[string]bool{}
	for i := len(img.Layers) - 1; i >= 0; i-- {
		l := img.Layers[i]
		if !seen[l] {
			seen[l] = true
			dirs = append(dirs, filepath.Join(s.root, "layers", strings.TrimPrefix(l, digestPrefix)))
		}
	}
	return dirs
}

// Config returns the image's config: Entrypoint, Cmd, Env, WorkingDir, User ... are in its Config field.
func (s *Store) Config(img Image) (*v1.ConfigFile, error) {
	s.mu.Lock()
	cfg := s.configs[img.ID]
	s.mu.Unlock()
	if cfg != nil {
		return cfg, nil
	}
	if !isImageID(img.ID) {
		return nil, fmt.Errorf("config of image %q: not an image ID", img.ID)
	}
	data, err := os.ReadFile(filepath.Join(s.root, "blobs", "sha256", strings.TrimPrefix(img.ID, digestPrefix)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config of image %s: %w", img.ID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("config of image %s: %w", img.ID, err)
	}
	cfg, err = v1.ParseConfigFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("config of image %s: %w", img.ID, err)
	}
	s.mu.Lock()
	s.configs[img.ID] = cfg
	s.mu.Unlock()
	return cfg, nil
}

// DiskUsage is the space of the store and of the filesystem holding it, for the node's imageFs stats.
type DiskUsage struct {
	// UsedBytes is the file content of all unpacked layers; Layers how many there are.
	UsedBytes int64
	Layers    int
	// Capacity and Available are the filesystem's, in bytes; Inodes and InodesFree its inodes.
	Capacity, Available uint64
	Inodes, InodesFree  uint64
}

// DiskUsage measures the store and its filesystem.
func (s *Store) DiskUsage() (DiskUsage, error) {
	ix, err := s.snapshot()
	if err != nil {
		return DiskUsage{}, err
	}
	var u DiskUsage
	for _, l := range ix.Layers {
		u.UsedBytes += l.Size
		u.Layers++
	}
	var st unix.Statfs_t
	if err := unix.Statfs(s.root, &st); err != nil {
		return DiskUsage{}, fmt.Errorf("statfs %s: %w", s.root, err)
	}
	u.Capacity = st.Blocks * uint64(st.Bsize)
	u.Available = st.Bavail * uint64(st.Bsize)
	u.Inodes, u.InodesFree = st.Files, st.Ffree
	return u, nil
}
