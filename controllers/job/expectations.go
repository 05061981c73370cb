package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// expectationsTimeout is how long unobserved pod creations or deletions hold a Job back before the
// controller stops waiting for them (an event can be lost when the watch is re-established).
const expectationsTimeout = 5 * time.Minute

// expectations remembers, per Job, the pod creations and deletions the controller has made but its
// cache has not shown yet, and the pods whose tracking finalizer it removed without having seen the
// update. The cache lags behind the controller's own writes; without this a sync could create pods
// twice, or count a finished pod twice. It is the only state the controller keeps in memory, and losing
// it (a restart) is safe: the cache is then fresh.
type expectations struct {
	mu   sync.Mutex
	now  func() time.Time
	jobs map[types.NamespacedName]*jobExpectations
}

type jobExpectations struct {
	// uid tells a Job from a later one of the same name.
	uid types.UID
	// adds and dels count pod creations and deletions not yet observed.
	adds, dels int
	// setAt is when adds and dels were last set, for the timeout.
	setAt time.Time
	// finalizers are the UIDs of pods whose finalizer removal has not been observed.
	finalizers sets.Set[string]
}

func newExpectations(now func() time.Time) *expectations {
	return &expectations{now: now, jobs: map[types.NamespacedName]*jobExpectations{}}
}

// entry returns the expectations of the Job, starting afresh for a new UID. Callers hold mu.
func (e *expectations) entry(key types.NamespacedName, uid types.UID) *jobExpectations {
	je := e.jobs[key]
	if je == nil || je.uid != uid {
		je = &jobExpectations{uid: uid, finalizers: sets.New[string]()}
		e.jobs[key] = je
	}
	return je
}

// satisfied reports whether every pod creation and deletion asked for has been observed, or the
// wait has timed out.
func (e *expectations) satisfied(key types.NamespacedName, uid types.UID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	je := e.jobs[key]
	if je == nil || je.uid != uid {
		return true
	}
	return (je.adds <= 0 && je.dels <= 0) || e.now().Sub(je.setAt) > expectationsTimeout
}

// pendingFor is how long until unobserved creations or deletions time out; 0 if none are pending.
func (e *expectations) pendingFor(key types.NamespacedName, uid types.UID) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	je := e.jobs[key]
	if je == nil || je.uid != uid || (je.adds <= 0 && je.dels <= 0) {
		return 0
	}
	return max(0, expectationsTimeout-e.now().Sub(je.setAt))
}

// expect sets the numbers of pod creations and deletions about to be made.
func (e *expectations) expect(key types.NamespacedName, uid types.UID, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	je := e.entry(key, uid)
	je.adds, je.dels, je.setAt = adds, dels, e.now()
}

// creationObserved counts one expected creation as seen (or as not going to happen).
func (e *expectations) creationObserved(key types.NamespacedName, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if je := e.jobs[key]; je != nil && je.uid == uid {
		je.adds--
	}
}

// deletionObserved counts one expected deletion as seen (or as not going to happen).
func (e *expectations) deletionObserved(key types.NamespacedName, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if je := e.jobs[key]; je != nil && je.uid == uid {
		je.dels--
	}
}

// expectFinalizersRemoved records pods whose tracking finalizer is about to be removed.
func (e *expectations) expectFinalizersRemoved(key types.NamespacedName, uid types.UID, podUIDs []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.entry(key, uid).finalizers.Insert(podUIDs...)
}

// finalizerRemovalObserved forgets a pod once its finalizer is seen gone (or will not go).
func (e *expectations) finalizerRemovalObserved(key types.NamespacedName, uid types.UID, podUID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if je := e.jobs[key]; je != nil && je.uid == uid {
		je.finalizers.Delete(podUID)
	}
}

// expectedFinalizerRemovals returns the pods whose finalizer removal is not yet observed.
func (e *expectations) expectedFinalizerRemovals(key types.NamespacedName, uid types.UID) sets.Set[string] {
	e.mu.Lock()
	defer e.mu.Unlock()
	if je := e.jobs[key]; je != nil && je.uid == uid {
		return je.finalizers.Clone()
	}
	return sets.New[string]()
}

// forget drops everything about a Job that is gone.
func (e *expectations) forget(key types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.jobs, key)
}
