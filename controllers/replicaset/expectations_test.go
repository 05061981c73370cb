package replicaset

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestExpectations(t *testing.T) {
	owner := types.NamespacedName{Namespace: "ns", Name: "rs"}
	pod := func(name string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: name} }
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }

	tests := []struct {
		name      string
		act       func(e *expectations)
		advance   time.Duration
		satisfied bool
	}{
		{name: "an owner never synced is satisfied", act: func(e *expectations) {}, satisfied: true},
		{
			name:      "creations not yet seen hold the owner back",
			act:       func(e *expectations) { e.expectCreations(owner, "u1", 2); e.creationObserved(owner, "u1") },
			satisfied: false,
		},
		{
			name: "all creations seen satisfy",
			act: func(e *expectations) {
				e.expectCreations(owner, "u1", 2)
				e.creationObserved(owner, "u1")
				e.creationObserved(owner, "u1")
			},
			satisfied: true,
		},
		{
			name: "pods of an owner of the same name but another UID do not count",
			act: func(e *expectations) {
				e.expectCreations(owner, "u1", 1)
				e.creationObserved(owner, "u0")
			},
			satisfied: false,
		},
		{
			name: "a deletion counts once however many events tell of it",
			act: func(e *expectations) {
				e.expectDeletions(owner, "u1", []types.NamespacedName{pod("a"), pod("b")})
				e.deletionObserved(owner, "u1", pod("a"))
				e.deletionObserved(owner, "u1", pod("a"))
			},
			satisfied: false,
		},
		{
			name: "deletions of other pods do not count",
			act: func(e *expectations) {
				e.expectDeletions(owner, "u1", []types.NamespacedName{pod("a")})
				e.deletionObserved(owner, "u1", pod("z"))
			},
			satisfied: false,
		},
		{
			name: "all deletions seen satisfy",
			act: func(e *expectations) {
				e.expectDeletions(owner, "u1", []types.NamespacedName{pod("a"), pod("b")})
				e.deletionObserved(owner, "u1", pod("b"))
				e.deletionObserved(owner, "u1", pod("a"))
			},
			satisfied: true,
		},
		{
			name:      "unmet expectations time out",
			act:       func(e *expectations) { e.expectCreations(owner, "u1", 3) },
			advance:   expectationsTimeout + time.Second,
			satisfied: true,
		},
		{
			name:      "a forgotten owner is satisfied",
			act:       func(e *expectations) { e.expectCreations(owner, "u1", 3); e.forget(owner) },
			satisfied: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			e := newExpectations(clock)
			tt.act(e)
			now = now.Add(tt.advance)
			ok, left := e.satisfied(owner)
			if ok != tt.satisfied {
				t.Fatalf("satisfied = %v, want %v", ok, tt.satisfied)
			}
			if !ok && (left <= 0 || left > expectationsTimeout) {
				t.Errorf("time left %v", left)
			}
		})
	}
}
