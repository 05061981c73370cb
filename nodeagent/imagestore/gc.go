package imagestore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// GCPolicy is the kubelet's image garbage collection policy.
type GCPolicy struct {
	// When the filesystem of the store is HighThresholdPercent full or more, unused images are removed,
	// least recently used first, until it is below LowThresholdPercent.
	HighThresholdPercent, LowThresholdPercent int
	// MinAge spares images the store got more recently than this.
	MinAge time.Duration
}

// DefaultGCPolicy is the kubelet's default: 85%, 80%, 2 minutes.
func DefaultGCPolicy() GCPolicy {
	return GCPolicy{HighThresholdPercent: 85, LowThresholdPercent: 80, MinAge: 2 * time.Minute}
}

func (p GCPolicy) validate() error {
	if p.HighThresholdPercent < 0 || p.HighThresholdPercent > 100 || p.LowThresholdPercent < 0 ||
		p.LowThresholdPercent > p.HighThresholdPercent {
		return fmt.Errorf("image GC thresholds: need 0 <= low (%d) <= high (%d) <= 100", p.LowThresholdPercent, p.HighThresholdPercent)
	}
	return nil
}

// GCResult says what a collection did.
type GCResult struct {
	Removed    []string // IDs of the removed images
	FreedBytes int64    // file content of the layers removed with them
}

// GarbageCollect records the images inUse says are used (inUse gets image IDs; nil means none) as used
// now and, when the filesystem is fuller than the policy allows, removes images that are neither in
// use nor leased, least recently used first, until enough space is free.
func (s *Store) GarbageCollect(ctx context.Context, inUse func(id string) bool, policy GCPolicy) (GCResult, error) {
	if err := policy.validate(); err != nil {
		return GCResult{}, err
	}
	usage, err := s.DiskUsage()
	if err != nil {
		return GCResult{}, fmt.Errorf("image GC: %w", err)
	}
	var res GCResult
	var trash []string
	err = s.withLock(func(ix *index) (bool, error) {
		now := s.now().UTC()
		used := map[string]bool{}
		for id, rec := range ix.Images {
			if len(rec.Leases) > 0 || inUse != nil && inUse(id) {
				used[id] = true
				rec.LastUsed = now
			}
		}
		toFree := bytesToFree(usage, policy)
		if toFree <= 0 {
			return len(used) > 0, nil
		}
		plan := planGC(ix, used, toFree, now, policy.MinAge)
		for _, id := range plan {
			rec := ix.Images[id]
			for _, l := range rec.Layers {
				if lr := ix.Layers[l]; lr != nil && layerOnlyIn(ix, l, id) {
					res.FreedBytes += lr.Size
				}
			}
			trash = append(trash, s.deleteImage(ix, rec)...)
			res.Removed = append(res.Removed, id)
		}
		return len(used) > 0 || len(plan) > 0, nil
	})
	if err != nil {
		return GCResult{}, fmt.Errorf("image GC: %w", err)
	}
	if err := s.emptyTrash(trash); err != nil {
		return res, fmt.Errorf("image GC: %w", err)
	}
	return res, nil
}

// bytesToFree is how much the kubelet frees: nothing below the high threshold, else down to the low one.
func bytesToFree(u DiskUsage, p GCPolicy) int64 {
	if u.Capacity == 0 {
		return 0
	}
	used := u.Capacity - u.Available
	if used*100 < uint64(p.HighThresholdPercent)*u.Capacity {
		return 0
	}
	return int64(used) - int64(uint64(p.LowThresholdPercent)*u.Capacity/100)
}

// planGC chooses the images to remove to free toFree bytes: unused ones older than minAge, least
// recently used first (then oldest first), counting for each only the layers no image left shares.
func planGC(ix *index, used map[string]bool, toFree int64, now time.Time, minAge time.Duration) []string {
	var candidates []*imageRecord
	for id, rec := range ix.Images {
		if !used[id] && now.Sub(rec.Created) >= minAge {
			candidates = append(candidates, rec)
		}
	}
	slices.SortFunc(candidates, func(a, b *imageRecord) int {
		if c := a.LastUsed.Compare(b.LastUsed); c != 0 {
			return c
		}
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	refs := map[string]int{}
	for _, rec := range ix.Images {
		for _, l := range uniq(rec.Layers) {
			refs[l]++
		}
	}
	var plan []string
	var freed int64
	for _, rec := range candidates {
		if freed >= toFree {
			break
		}
		plan = append(plan, rec.ID)
		for _, l := range uniq(rec.Layers) {
			if refs[l]--; refs[l] == 0 && ix.Layers[l] != nil {
				freed += ix.Layers[l].Size
			}
		}
	}
	return plan
}

func layerOnlyIn(ix *index, layer, id string) bool {
	for other, rec := range ix.Images {
		if other != id && slices.Contains(rec.Layers, layer) {
			return false
		}
	}
	return true
}

func uniq(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
