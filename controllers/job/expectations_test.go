package job

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestExpectations(t *testing.T) {
	now := t0
	e := newExpectations(func() time.Time { return now })
	key := types.NamespacedName{Namespace: "ns", Name: "job"}
	const uid = types.UID("uid-1")

	if !e.satisfied(key, uid) {
		t.Fatalf("a job nothing was asked for is not satisfied")
	}
	e.expect(key, uid, 2, 0)
	if e.satisfied(key, uid) {
		t.Fatalf("satisfied before any creation was observed")
	}
	e.creationObserved(key, uid)
	e.creationObserved(key, "other-uid")
	if e.satisfied(key, uid) {
		t.Fatalf("satisfied after one of two creations (an observation for another job with the name counted)")
	}
	e.creationObserved(key, uid)
	if !e.satisfied(key, uid) {
		t.Fatalf("not satisfied after both creations")
	}

	e.expect(key, uid, 0, 1)
	if e.satisfied(key, uid) || e.pendingFor(key, uid) != expectationsTimeout {
		t.Fatalf("deletion pending: satisfied %t, pending for %v", e.satisfied(key, uid), e.pendingFor(key, uid))
	}
	now = now.Add(expectationsTimeout + time.Second)
	if !e.satisfied(key, uid) || e.pendingFor(key, uid) != 0 {
		t.Fatalf("expectations do not time out")
	}

	e.expect(key, uid, 1, 0)
	if !e.satisfied(key, "new-uid") {
		t.Fatalf("a job recreated with the name inherits the expectations of the old one")
	}
	e.expectFinalizersRemoved(key, uid, []string{"p1", "p2"})
	e.finalizerRemovalObserved(key, uid, "p1")
	if got := e.expectedFinalizerRemovals(key, uid); got.Len() != 1 || !got.Has("p2") {
		t.Fatalf("expected finalizer removals %v, want [p2]", got.UnsortedList())
	}
	if got := e.expectedFinalizerRemovals(key, "new-uid"); got.Len() != 0 {
		t.Fatalf("another job of the name sees removals %v", got.UnsortedList())
	}
	e.forget(key)
	if got := e.expectedFinalizerRemovals(key, uid); got.Len() != 0 {
		t.Fatalf("forgotten job still has removals %v", got.UnsortedList())
	}
}
