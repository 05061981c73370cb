package daemonset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// expectationsTTL is how long a sync waits for the cache to show its writes before it stops trusting
// them to show (a watch event lost), as upstream's ControllerExpectations.
const expectationsTTL = 5 * time.Minute

// expectations remember, per DaemonSet, the pod creations and deletions a sync made that the cache has
// not shown yet. Daemon pods get generated names, so a sync that acted on a cache lagging behind its own
// writes would create a second pod for a node: until the writes show, syncs only report status.
// Creations are counted (their names are known only once made); deletions are known by UID.
type expectations struct {
	mu      sync.Mutex
	pending map[types.NamespacedName]*expected
}

type expected struct {
	creations int
	deletions map[types.UID]bool
	since     time.Time
}

func newExpectations() *expectations {
	return &expectations{pending: map[types.NamespacedName]*expected{}}
}

// expect records, before a sync writes, that it creates creations pods and deletes the pods deletions.
func (e *expectations) expect(key types.NamespacedName, creations int, deletions []types.UID, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expected{creations: creations, deletions: make(map[types.UID]bool, len(deletions)), since: now}
	for _, uid := range deletions {
		x.deletions[uid] = true
	}
	e.pending[key] = x
}

// created records that the cache shows a pod created for key, or that a creation failed and will not.
func (e *expectations) created(key types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.pending[key]; x != nil && x.creations > 0 {
		x.creations--
	}
}

// deleted records that the cache shows pod uid of key going, or that its deletion failed.
func (e *expectations) deleted(key types.NamespacedName, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.pending[key]; x != nil {
		delete(x.deletions, uid)
	}
}

// satisfied tells whether the cache shows all of key's writes, or they are too old to wait for.
func (e *expectations) satisfied(key types.NamespacedName, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.pending[key]
	if x == nil {
		return true
	}
	if (x.creations <= 0 && len(x.deletions) == 0) || now.Sub(x.since) > expectationsTTL {
		delete(e.pending, key)
		return true
	}
	return false
}

// forget drops what is expected of key, whose DaemonSet is gone.
func (e *expectations) forget(key types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pending, key)
}
