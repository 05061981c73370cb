package replicaset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// expectationsTimeout is how long unmet expectations hold back a sync before they are presumed lost (a
// watch event that never came), as upstream's.
const expectationsTimeout = 5 * time.Minute

// expectations remember, per owner, the pod creations and deletions a sync asked for until the shared
// cache has seen them, so that a sync never counts pods on a cache that lags behind its own writes and
// creates or deletes twice (upstream's UIDTrackingControllerExpectations). It is the one piece of memory
// the reconciler keeps between syncs; losing it (a restart) only costs one sync on a possibly stale
// cache, as upstream.
type expectations struct {
	now func() time.Time

	mu sync.Mutex
	m  map[types.NamespacedName]*expectation
}

// expectation is what one owner still waits for.
type expectation struct {
	// owner tells apart two owners of the same name: events about pods of a deleted owner do not count
	// for its successor.
	owner types.UID
	// creations is the number of pod creations not yet seen.
	creations int
	// deletions are the pods whose deletion is not yet seen.
	deletions map[types.NamespacedName]bool
	// since is when the expectation was set, for the timeout.
	since time.Time
}

func newExpectations(now func() time.Time) *expectations {
	return &expectations{now: now, m: map[types.NamespacedName]*expectation{}}
}

// satisfied tells whether the owner's last sync has been seen in full (or has no expectations, or they
// timed out); when not, it returns how long until they time out.
func (e *expectations) satisfied(owner types.NamespacedName) (bool, time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	exp, ok := e.m[owner]
	if !ok || (exp.creations <= 0 && len(exp.deletions) == 0) {
		return true, 0
	}
	left := exp.since.Add(expectationsTimeout).Sub(e.now())
	if left <= 0 {
		return true, 0
	}
	return false, left
}

// expectCreations records that n pods are being created for the owner.
func (e *expectations) expectCreations(owner types.NamespacedName, uid types.UID, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[owner] = &expectation{owner: uid, creations: n, since: e.now()}
}

// expectDeletions records that pods are being deleted for the owner.
func (e *expectations) expectDeletions(owner types.NamespacedName, uid types.UID, pods []types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	exp := &expectation{owner: uid, deletions: make(map[types.NamespacedName]bool, len(pods)), since: e.now()}
	for _, p := range pods {
		exp.deletions[p] = true
	}
	e.m[owner] = exp
}

// creationObserved counts one creation as seen (or as never going to be seen, when it failed).
func (e *expectations) creationObserved(owner types.NamespacedName, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if exp, ok := e.m[owner]; ok && exp.owner == uid && exp.creations > 0 {
		exp.creations--
	}
}

// deletionObserved counts the deletion of pod as seen; a pod counts once however many events tell of
// its deletion (the deletion timestamp, then the removal).
func (e *expectations) deletionObserved(owner types.NamespacedName, uid types.UID, pod types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if exp, ok := e.m[owner]; ok && exp.owner == uid {
		delete(exp.deletions, pod)
	}
}

// forget drops what is known about an owner that is gone.
func (e *expectations) forget(owner types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, owner)
}
