package garbagecollector

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ownerState is what the API says of one owner a dependent references.
type ownerState int

const (
	// ownerSolid exists and is not waiting for its dependents to go.
	ownerSolid ownerState = iota
	// ownerDangling does not exist: not found, or found with another UID.
	ownerDangling
	// ownerWaiting exists, is being deleted and has the foregroundDeletion finalizer.
	ownerWaiting
)

// classifiedRefs are a dependent's ownerReferences sorted by what became of their owners.
type classifiedRefs struct {
	solid, dangling, waiting []metav1.OwnerReference
}

func (c *classifiedRefs) add(ref metav1.OwnerReference, s ownerState) {
	switch s {
	case ownerSolid:
		c.solid = append(c.solid, ref)
	case ownerDangling:
		c.dangling = append(c.dangling, ref)
	case ownerWaiting:
		c.waiting = append(c.waiting, ref)
	}
}

// stateOfOwner classifies a live owner whose UID matched the reference.
func stateOfOwner(owner metav1.Object) ownerState {
	if owner.GetDeletionTimestamp() != nil && hasFinalizer(owner, metav1.FinalizerDeleteDependents) {
		return ownerWaiting
	}
	return ownerSolid
}

// decision is what to do with a dependent after its owners were classified.
type decision struct {
	// removeRefs are owner UIDs to drop from the dependent's ownerReferences, keeping the object.
	removeRefs []types.UID
	// unblock sets blockOwnerDeletion to false on all the dependent's references before deleting it, to
	// break a possible cycle of foreground deletions.
	unblock bool
	// delete deletes the dependent with propagation policy.
	delete bool
	policy metav1.DeletionPropagation
}

// decide applies upstream's rules to a dependent with the given finalizers and classified owners:
//   - with a solid owner it stays, losing only its references to dangling and waiting owners;
//   - with an owner waiting in the foreground and dependents of its own, it is deleted in the foreground
//     too (after unblocking its references if one of its dependents also waits, to avoid a deadlock);
//   - otherwise it is garbage: deleted with the policy its finalizers already ask for, or Background.
func decide(finalizers []string, refs classifiedRefs, hasDependents, dependentDeletingDependents bool) decision {
	switch {
	case len(refs.solid) > 0:
		var remove []types.UID
		for _, r := range refs.dangling {
			remove = append(remove, r.UID)
		}
		for _, r := range refs.waiting {
			remove = append(remove, r.UID)
		}
		return decision{removeRefs: remove}
	case len(refs.waiting) > 0 && hasDependents:
		return decision{unblock: dependentDeletingDependents, delete: true, policy: metav1.DeletePropagationForeground}
	}
	policy := metav1.DeletePropagationBackground
	switch {
	case slices.Contains(finalizers, metav1.FinalizerOrphanDependents):
		policy = metav1.DeletePropagationOrphan
	case slices.Contains(finalizers, metav1.FinalizerDeleteDependents):
		policy = metav1.DeletePropagationForeground
	}
	return decision{delete: true, policy: policy}
}
