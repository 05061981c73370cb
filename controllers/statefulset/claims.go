package statefulset

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The claims' retention policy is carried out through owner references, as upstream: the garbage
// collector deletes a claim when its owner goes. A claim is owned by the set when whenDeleted is Delete
// (so it goes with the set), and by its pod when whenScaled is Delete and the pod's ordinal is beyond the
// set's size (so it goes with the pod being scaled away). With Retain, the claim has neither reference.

// retentionPolicy is set's claim retention policy, Retain for both cases when unset.
func retentionPolicy(set *appsv1.StatefulSet) appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy {
	policy := appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
	if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		if p.WhenDeleted != "" {
			policy.WhenDeleted = p.WhenDeleted
		}
		if p.WhenScaled != "" {
			policy.WhenScaled = p.WhenScaled
		}
	}
	return policy
}

// wantedOwners says which of set and pod should own a claim of pod under set's policy.
func wantedOwners(set *appsv1.StatefulSet, pod *corev1.Pod) (bySet, byPod bool) {
	policy := retentionPolicy(set)
	scaledDown := !inOrdinalRange(set, pod)
	bySet = policy.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType &&
		!(scaledDown && policy.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType)
	byPod = scaledDown && policy.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	return bySet, byPod
}

// refersTo tells whether ref names obj of kind gvk, whatever its UID.
func refersTo(ref *metav1.OwnerReference, obj metav1.Object, gvk schema.GroupVersionKind) bool {
	return ref.APIVersion == gvk.GroupVersion().String() && ref.Kind == gvk.Kind && ref.Name == obj.GetName()
}

func hasOwnerRef(claim *corev1.PersistentVolumeClaim, owner metav1.Object) bool {
	for _, ref := range claim.OwnerReferences {
		if ref.UID == owner.GetUID() {
			return true
		}
	}
	return false
}

// hasStaleOwnerRef tells whether claim refers to an earlier object named like obj (another UID): one
// that was deleted, so that the garbage collector is about to delete the claim too.
func hasStaleOwnerRef(claim *corev1.PersistentVolumeClaim, obj metav1.Object, gvk schema.GroupVersionKind) bool {
	for i := range claim.OwnerReferences {
		if refersTo(&claim.OwnerReferences[i], obj, gvk) {
			return claim.OwnerReferences[i].UID != obj.GetUID()
		}
	}
	return false
}

// hasUnexpectedController tells whether something other than set or pod controls claim while the
// policy would have set or pod own it; such a claim's references are left to that controller.
func hasUnexpectedController(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	policy := retentionPolicy(set)
	if policy.WhenDeleted == appsv1.RetainPersistentVolumeClaimRetentionPolicyType &&
		policy.WhenScaled == appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		return false
	}
	for i := range claim.OwnerReferences {
		ref := &claim.OwnerReferences[i]
		switch {
		case refersTo(ref, set, setKind):
			if ref.UID != set.UID {
				return true
			}
		case refersTo(ref, pod, podKind):
			if ref.UID != pod.UID {
				return true
			}
		case ref.Controller != nil && *ref.Controller:
			return true
		}
	}
	return false
}

// hasNonControllerOwner tells whether set or pod owns claim without being marked its controller.
func hasNonControllerOwner(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	for _, ref := range claim.OwnerReferences {
		if (ref.UID == set.UID || ref.UID == pod.UID) && (ref.Controller == nil || !*ref.Controller) {
			return true
		}
	}
	return false
}

// claimOwnersUpToDate tells whether claim's owner references carry out set's retention policy for pod.
// A claim with stale references (its set or pod was deleted and the garbage collector will take it) is
// left alone, as is one controlled by something else that set and pod do not own.
func claimOwnersUpToDate(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	if hasStaleOwnerRef(claim, set, setKind) || hasStaleOwnerRef(claim, pod, podKind) {
		return true
	}
	if hasUnexpectedController(claim, set, pod) {
		return !hasOwnerRef(claim, set) && !hasOwnerRef(claim, pod)
	}
	if hasNonControllerOwner(claim, set, pod) {
		return false
	}
	bySet, byPod := wantedOwners(set, pod)
	return hasOwnerRef(claim, set) == bySet && hasOwnerRef(claim, pod) == byPod
}

// setClaimOwners rewrites claim's references to set and pod to carry out set's retention policy, keeping
// references to other owners. Under a conflicting controller, set and pod only let go. A pod not yet
// created (no UID) cannot be referred to.
func setClaimOwners(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) {
	unexpected := hasUnexpectedController(claim, set, pod)
	refs := make([]metav1.OwnerReference, 0, len(claim.OwnerReferences)+1)
	for i := range claim.OwnerReferences {
		ref := &claim.OwnerReferences[i]
		if !refersTo(ref, set, setKind) && !refersTo(ref, pod, podKind) {
			refs = append(refs, *ref)
		}
	}
	if !unexpected {
		bySet, byPod := wantedOwners(set, pod)
		if bySet {
			refs = append(refs, *metav1.NewControllerRef(set, setKind))
		}
		if byPod && pod.UID != "" {
			refs = append(refs, *metav1.NewControllerRef(pod, podKind))
		}
	}
	claim.OwnerReferences = refs
}

// claimIsStale tells whether one of pod's claims still belongs to an earlier pod of the same name that
// was scaled away: the garbage collector is deleting it, and the pod must wait rather than mount it.
func claimIsStale(set *appsv1.StatefulSet, pod *corev1.Pod, claims map[string]*corev1.PersistentVolumeClaim) bool {
	if retentionPolicy(set).WhenScaled == appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		return false
	}
	for _, want := range claimsFor(set, pod) {
		if claim, ok := claims[want.Name]; ok && hasStaleOwnerRef(claim, pod, podKind) {
			return true
		}
	}
	return false
}

// claimsMatchPolicy tells whether every existing claim of pod carries out set's retention policy.
// Claims not made yet are not counted: they get their references when they are made.
func claimsMatchPolicy(set *appsv1.StatefulSet, pod *corev1.Pod, claims map[string]*corev1.PersistentVolumeClaim) bool {
	for _, want := range claimsFor(set, pod) {
		if claim, ok := claims[want.Name]; ok && !claimOwnersUpToDate(claim, set, pod) {
			return false
		}
	}
	return true
}

// claimsMissing tells whether some claim of pod does not exist.
func claimsMissing(set *appsv1.StatefulSet, pod *corev1.Pod, claims map[string]*corev1.PersistentVolumeClaim) bool {
	for _, want := range claimsFor(set, pod) {
		if _, ok := claims[want.Name]; !ok {
			return true
		}
	}
	return false
}
