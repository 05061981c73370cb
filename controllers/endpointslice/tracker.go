package endpointslice

import (
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
)

// expectationTTL bounds how long a write is waited for: a slice created and deleted by someone else
// before the cache saw it would otherwise hold its Service up for ever.
const expectationTTL = 30 * time.Second

// writeTracker remembers the EndpointSlice writes of this controller that the cache has not shown yet,
// per Service, the way upstream's EndpointSliceTracker does: planning from a cache without a slice just
// created would create it twice, and from one still holding a slice just deleted would write it again.
type writeTracker struct {
	mu      sync.Mutex
	pending map[types.NamespacedName]map[types.UID]expectation
}

// expectation is one write: the slice at resourceVersion or later, or the slice gone.
type expectation struct {
	resourceVersion string
	deleted         bool
	at              time.Time
}

func newWriteTracker() *writeTracker {
	return &writeTracker{pending: map[types.NamespacedName]map[types.UID]expectation{}}
}

// wrote records that s was created or updated at its resource version.
func (t *writeTracker) wrote(svc types.NamespacedName, s *discoveryv1.EndpointSlice, now time.Time) {
	t.set(svc, s.UID, expectation{resourceVersion: s.ResourceVersion, at: now})
}

// deleted records that s was deleted.
func (t *writeTracker) deleted(svc types.NamespacedName, s *discoveryv1.EndpointSlice, now time.Time) {
	t.set(svc, s.UID, expectation{deleted: true, at: now})
}

func (t *writeTracker) set(svc types.NamespacedName, uid types.UID, e expectation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[svc] == nil {
		t.pending[svc] = map[types.UID]expectation{}
	}
	t.pending[svc][uid] = e
}

// forget drops what is known of a Service's slices (the Service is gone).
func (t *writeTracker) forget(svc types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pending, svc)
}

// stale says whether cached, the Service's slices as the cache has them, misses one of its writes. The
// writes the cache shows are forgotten.
func (t *writeTracker) stale(svc types.NamespacedName, cached []*discoveryv1.EndpointSlice, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	pending := t.pending[svc]
	if len(pending) == 0 {
		return false
	}
	byUID := make(map[types.UID]*discoveryv1.EndpointSlice, len(cached))
	for _, s := range cached {
		byUID[s.UID] = s
	}
	stale := false
	for uid, e := range pending {
		s, present := byUID[uid]
		var seen bool
		switch {
		case e.deleted:
			seen = !present
		case present:
			c, err := resourceversion.CompareResourceVersion(s.ResourceVersion, e.resourceVersion)
			// A resource version that does not compare cannot be waited for.
			seen = err != nil || c >= 0
		}
		if seen || now.Sub(e.at) > expectationTTL {
			delete(pending, uid)
			continue
		}
		stale = true
	}
	if len(pending) == 0 {
		delete(t.pending, svc)
	}
	return stale
}
