package garbagecollector

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestDecide(t *testing.T) {
	ref := func(uid types.UID) metav1.OwnerReference { return metav1.OwnerReference{UID: uid} }
	refs := func(uids ...types.UID) []metav1.OwnerReference {
		var out []metav1.OwnerReference
		for _, u := range uids {
			out = append(out, ref(u))
		}
		return out
	}
	tests := []struct {
		name                       string
		finalizers                 []string
		refs                       classifiedRefs
		hasDependents, depsWaiting bool
		want                       decision
	}{
		{
			name: "a dependent with only solid owners stays as it is",
			refs: classifiedRefs{solid: refs("a", "b")},
			want: decision{},
		},
		{
			name: "a dependent with a solid owner loses its references to absent and waiting owners",
			refs: classifiedRefs{solid: refs("a"), dangling: refs("b"), waiting: refs("c")},
			want: decision{removeRefs: []types.UID{"b", "c"}},
		},
		{
			name: "a dependent whose owners are all absent is deleted in the background",
			refs: classifiedRefs{dangling: refs("a", "b")},
			want: decision{delete: true, policy: metav1.DeletePropagationBackground},
		},
		{
			name:       "an orphan finalizer the garbage already has is honoured",
			finalizers: []string{"x", metav1.FinalizerOrphanDependents},
			refs:       classifiedRefs{dangling: refs("a")},
			want:       decision{delete: true, policy: metav1.DeletePropagationOrphan},
		},
		{
			name:       "a foreground finalizer the garbage already has is honoured",
			finalizers: []string{metav1.FinalizerDeleteDependents},
			refs:       classifiedRefs{dangling: refs("a")},
			want:       decision{delete: true, policy: metav1.DeletePropagationForeground},
		},
		{
			name: "a dependent without dependents of an owner waiting in the foreground is deleted in the background",
			refs: classifiedRefs{waiting: refs("a")},
			want: decision{delete: true, policy: metav1.DeletePropagationBackground},
		},
		{
			name:          "a dependent with dependents of an owner waiting in the foreground is deleted in the foreground",
			refs:          classifiedRefs{waiting: refs("a"), dangling: refs("b")},
			hasDependents: true,
			want:          decision{delete: true, policy: metav1.DeletePropagationForeground},
		},
		{
			name:          "a possible cycle of foreground deletions is broken by unblocking first",
			refs:          classifiedRefs{waiting: refs("a")},
			hasDependents: true, depsWaiting: true,
			want: decision{unblock: true, delete: true, policy: metav1.DeletePropagationForeground},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.finalizers, tt.refs, tt.hasDependents, tt.depsWaiting); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decide() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStateOfOwner(t *testing.T) {
	tests := []struct {
		name  string
		owner *metav1.PartialObjectMetadata
		want  ownerState
	}{
		{"a live owner is solid", obj("ns", "o", "o"), ownerSolid},
		{"an owner being deleted in the background is solid", obj("ns", "o", "o", deleting()), ownerSolid},
		{"an orphaning owner is solid", obj("ns", "o", "o", deleting(metav1.FinalizerOrphanDependents)), ownerSolid},
		{"an owner being deleted in the foreground waits", obj("ns", "o", "o", deleting(metav1.FinalizerDeleteDependents)), ownerWaiting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stateOfOwner(tt.owner); got != tt.want {
				t.Errorf("stateOfOwner() = %v, want %v", got, tt.want)
			}
		})
	}
}
