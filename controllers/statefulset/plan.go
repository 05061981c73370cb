package statefulset

import (
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// world is what one sync of a set sees: the set, the set as of its current and update revisions, its
// pods and the claims in its namespace, by name.
type world struct {
	set                             *appsv1.StatefulSet
	currentSet, updateSet           *appsv1.StatefulSet
	currentRevision, updateRevision string
	pods                            []*corev1.Pod
	claims                          map[string]*corev1.PersistentVolumeClaim
	now                             time.Time
}

// action is what a step does to one pod.
type action string

const (
	// createPod creates the pod's missing claims, then the pod, then gives the claims their owners.
	createPod action = "create"
	// deletePod deletes the pod.
	deletePod action = "delete"
	// updatePod restores the pod's identity, storage and its claims' owners.
	updatePod action = "update"
	// createClaims creates a pending pod's missing claims and gives them their owners.
	createClaims action = "create claims"
	// fixClaims gives the claims of a pod being scaled away the owners the retention policy asks for.
	fixClaims action = "fix claims"
)

// why a pod is deleted; it chooses the event recorded beside the deletion.
type why string

const (
	forScaleDown  why = "scale down"
	forUpdate     why = "update"
	forFailure    why = "failed"
	forCompletion why = "succeeded"
)

// step is one write a sync makes, in order.
type step struct {
	action action
	pod    *corev1.Pod
	why    why
}

// plan decides what one sync does, as upstream's StatefulSet control loop: pods missing below the
// set's size are created (in ordinal order, each after its predecessors are Running, Ready and
// available, under OrderedReady; all at once under Parallel); failed pods are deleted to be recreated;
// pods beyond the size are deleted from the highest ordinal down (one at a time under OrderedReady);
// then a RollingUpdate deletes pods not at the update revision from the highest ordinal down to the
// partition, never more unavailable at once than maxUnavailable, so that they come back at the update
// revision. Under OrderedReady the plan stops where upstream waits.
func plan(w world) []step {
	set := w.set
	minReady := set.Spec.MinReadySeconds
	n, start := replicas(set), startOrdinal(set)
	if n < 0 {
		n = 0
	}

	// Pods with an ordinal in [start, start+n) are replicas, the others condemned.
	current := make([]*corev1.Pod, n)
	var condemned []*corev1.Pod
	for _, pod := range w.pods {
		ordinal := ordinalOf(pod)
		switch {
		case inOrdinalRange(set, pod):
			if prev := current[ordinal-start]; prev == nil || olderFirst(pod, prev) {
				current[ordinal-start] = pod
			}
		case ordinal >= 0:
			condemned = append(condemned, pod)
		}
	}
	for i := range current {
		if current[i] == nil {
			current[i] = newRevisionedPod(w.currentSet, w.updateSet, w.currentRevision, w.updateRevision, start+i)
		}
	}
	sort.SliceStable(condemned, func(i, j int) bool { return ordinalOf(condemned[i]) > ordinalOf(condemned[j]) })

	// The first unavailable pod in ordinal order may be deleted in a scale down even while unhealthy.
	var firstUnavailable *corev1.Pod
	for _, pod := range current {
		if isUnavailable(pod, minReady, w.now) {
			firstUnavailable = pod
			break
		}
	}
	for i := len(condemned) - 1; firstUnavailable == nil && i >= 0; i-- {
		if isUnavailable(condemned[i], minReady, w.now) {
			firstUnavailable = condemned[i]
		}
	}

	if set.DeletionTimestamp != nil {
		return nil
	}
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement

	var steps []step
	for _, pod := range current {
		wait := w.replicaSteps(pod, monotonic, &steps)
		if wait && monotonic {
			return steps
		}
	}

	for _, pod := range condemned {
		if !claimsMatchPolicy(set, pod, w.claims) {
			steps = append(steps, step{action: fixClaims, pod: pod})
		}
	}

	for _, pod := range condemned {
		if isTerminating(pod) {
			if monotonic {
				return steps
			}
			continue
		}
		if monotonic && pod != firstUnavailable &&
			(!isRunningAndReady(pod) || !isRunningAndAvailable(pod, minReady, w.now)) {
			return steps
		}
		steps = append(steps, step{action: deletePod, pod: pod, why: forScaleDown})
		if monotonic {
			return steps
		}
	}

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return steps
	}
	unavailable := 0
	for _, pod := range current {
		if isUnavailable(pod, minReady, w.now) {
			unavailable++
		}
	}
	budget := maxUnavailable(set) - unavailable
	for i := n - 1; i >= int(partition(set)) && budget > 0; i-- {
		pod := current[i]
		if isCreated(pod) && revisionOf(pod) != w.updateRevision && !isTerminating(pod) {
			steps = append(steps, step{action: deletePod, pod: pod, why: forUpdate})
			budget--
		}
	}
	return steps
}

// replicaSteps appends what pod, which the set keeps, needs, and tells whether an OrderedReady set must
// wait for it before going on to the next ordinal.
func (w world) replicaSteps(pod *corev1.Pod, monotonic bool, steps *[]step) (wait bool) {
	set := w.set
	// A finished pod (failed, or succeeded though it should run forever) is deleted; the next sync,
	// once it is gone, creates it again.
	if isFailed(pod) || isSucceeded(pod) {
		if !isTerminating(pod) {
			reason := forFailure
			if isSucceeded(pod) {
				reason = forCompletion
			}
			*steps = append(*steps, step{action: deletePod, pod: pod, why: reason})
		}
		return true
	}
	if !isCreated(pod) {
		if claimIsStale(set, pod, w.claims) {
			// A claim of an earlier pod of this name is being deleted: wait until it is gone.
			return true
		}
		*steps = append(*steps, step{action: createPod, pod: pod})
		return true
	}
	claimsOK := claimsMatchPolicy(set, pod, w.claims)
	if isPending(pod) && (!claimsOK || claimsMissing(set, pod, w.claims)) {
		*steps = append(*steps, step{action: createClaims, pod: pod})
		claimsOK = true
	}
	if monotonic && (isTerminating(pod) || !isRunningAndReady(pod) || !isRunningAndAvailable(pod, set.Spec.MinReadySeconds, w.now)) {
		return true
	}
	if !identityMatches(set, pod) || !storageMatches(set, pod) || !claimsOK {
		*steps = append(*steps, step{action: updatePod, pod: pod})
	}
	return false
}

// olderFirst orders two pods claiming the same ordinal: the older one is the replica.
func olderFirst(a, b *corev1.Pod) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// computeStatus is the set's status as seen in its pods: how many exist, are ready, available, at the
// current and at the update revision. A RollingUpdate whose pods are all updated and ready is complete:
// the update revision becomes the current one.
func computeStatus(w world, collisionCount int32) appsv1.StatefulSetStatus {
	set := w.set
	status := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    w.currentRevision,
		UpdateRevision:     w.updateRevision,
		CollisionCount:     &collisionCount,
		Conditions:         set.Status.Conditions,
	}
	for _, pod := range w.pods {
		if !isCreated(pod) {
			continue
		}
		status.Replicas++
		if isRunningAndReady(pod) {
			status.ReadyReplicas++
			if isRunningAndAvailable(pod, set.Spec.MinReadySeconds, w.now) {
				status.AvailableReplicas++
			}
		}
		if !isTerminating(pod) {
			if revisionOf(pod) == w.currentRevision {
				status.CurrentReplicas++
			}
			if revisionOf(pod) == w.updateRevision {
				status.UpdatedReplicas++
			}
		}
	}
	want := int32(replicas(set))
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType &&
		status.UpdatedReplicas == want && status.ReadyReplicas == want && status.Replicas == want {
		status.CurrentReplicas = status.UpdatedReplicas
		status.CurrentRevision = status.UpdateRevision
	}
	return status
}

// nextAvailability is how long until the first of pods that are ready but not yet available for
// minReadySeconds becomes available; zero if none is waiting.
func nextAvailability(set *appsv1.StatefulSet, pods []*corev1.Pod, now time.Time) time.Duration {
	var next time.Duration
	for _, pod := range pods {
		if !isRunningAndReady(pod) || isTerminating(pod) {
			continue
		}
		if d := availableIn(pod, set.Spec.MinReadySeconds, now); d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	return next
}
