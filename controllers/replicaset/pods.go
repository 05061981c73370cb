package replicaset

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// Upstream's event reasons and condition reasons for pods a controller creates and deletes.
const (
	reasonSuccessfulCreate = "SuccessfulCreate"
	reasonFailedCreate     = "FailedCreate"
	reasonSuccessfulDelete = "SuccessfulDelete"
	reasonFailedDelete     = "FailedDelete"
)

// slowStartInitialBatchSize is the first batch of pod creations; each successful batch doubles the
// next, so a template every creation of which fails costs one request, not hundreds.
const slowStartInitialBatchSize = 1

// isActive tells whether a pod counts as a replica: not finished and not being deleted.
func isActive(pod *corev1.Pod) bool {
	return pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed &&
		pod.DeletionTimestamp == nil
}

// isTerminating tells whether a pod is being deleted but may still run.
func isTerminating(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp != nil &&
		pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

// readyCondition is the pod's Ready condition, or nil.
func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func isReady(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

// availableAt is when a ready pod becomes available: minReadySeconds after it became ready. ok is false
// for a pod that is not ready, or whose readiness has no time (it never becomes available then, as
// upstream).
func availableAt(pod *corev1.Pod, minReadySeconds int32) (at time.Time, ok bool) {
	c := readyCondition(pod)
	if c == nil || c.Status != corev1.ConditionTrue {
		return time.Time{}, false
	}
	if minReadySeconds <= 0 {
		return time.Time{}, true
	}
	if c.LastTransitionTime.IsZero() {
		return time.Time{}, false
	}
	return c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second), true
}

// IsAvailable tells whether pod has been ready for more than minReadySeconds at now.
func IsAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	at, ok := availableAt(pod, minReadySeconds)
	return ok && (minReadySeconds <= 0 || at.Before(now))
}

// untilNextAvailable is how long until the first ready but not yet available pod becomes available, or
// 0 when none will by time alone.
func untilNextAvailable(pods []*corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	if minReadySeconds <= 0 {
		return 0
	}
	var next time.Duration
	for _, pod := range pods {
		at, ok := availableAt(pod, minReadySeconds)
		if !ok || at.Before(now) {
			continue
		}
		// Availability needs now strictly after at; a little slack makes the next sync see it.
		if d := at.Sub(now) + 100*time.Millisecond; next == 0 || d < next {
			next = d
		}
	}
	return next
}

// calculateStatus is the status of rs given its active and terminating pods and the error, if any, of
// making their number right, as upstream's calculateStatus.
func calculateStatus(rs *appsv1.ReplicaSet, active, terminating []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	status := *rs.Status.DeepCopy()
	templateLabels := labels.SelectorFromSet(rs.Spec.Template.Labels)
	var fullyLabeled, ready, available int32
	for _, pod := range active {
		if templateLabels.Matches(labels.Set(pod.Labels)) {
			fullyLabeled++
		}
		if isReady(pod) {
			ready++
			if IsAvailable(pod, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	failure := condition(status, appsv1.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		reason := ""
		if diff := len(active) - int(replicas(rs)); diff < 0 {
			reason = reasonFailedCreate
		} else if diff > 0 {
			reason = reasonFailedDelete
		}
		setCondition(&status, appsv1.ReplicaSetCondition{Type: appsv1.ReplicaSetReplicaFailure,
			Status: corev1.ConditionTrue, Reason: reason, Message: manageErr.Error(), LastTransitionTime: metav1.NewTime(now)})
	case manageErr == nil && failure != nil:
		removeCondition(&status, appsv1.ReplicaSetReplicaFailure)
	}
	status.Replicas = int32(len(active))
	status.FullyLabeledReplicas = fullyLabeled
	status.ReadyReplicas = ready
	status.AvailableReplicas = available
	status.TerminatingReplicas = ptr.To(int32(len(terminating)))
	status.ObservedGeneration = rs.Generation
	return status
}

// replicas is the desired number of pods of rs (1 when unset, as the API server defaults it).
func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

func condition(status appsv1.ReplicaSetStatus, t appsv1.ReplicaSetConditionType) *appsv1.ReplicaSetCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}

// setCondition sets c, keeping an existing condition of the same type, status and reason as it is.
func setCondition(status *appsv1.ReplicaSetStatus, c appsv1.ReplicaSetCondition) {
	if cur := condition(*status, c.Type); cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	removeCondition(status, c.Type)
	status.Conditions = append(status.Conditions, c)
}

func removeCondition(status *appsv1.ReplicaSetStatus, t appsv1.ReplicaSetConditionType) {
	var kept []appsv1.ReplicaSetCondition
	for _, c := range status.Conditions {
		if c.Type != t {
			kept = append(kept, c)
		}
	}
	status.Conditions = kept
}

// statusEqual tells whether writing status over old would change nothing.
func statusEqual(old, status appsv1.ReplicaSetStatus) bool {
	return old.Replicas == status.Replicas && old.FullyLabeledReplicas == status.FullyLabeledReplicas &&
		old.ReadyReplicas == status.ReadyReplicas && old.AvailableReplicas == status.AvailableReplicas &&
		ptr.Equal(old.TerminatingReplicas, status.TerminatingReplicas) &&
		old.ObservedGeneration == status.ObservedGeneration && conditionsEqual(old.Conditions, status.Conditions)
}

func conditionsEqual(a, b []appsv1.ReplicaSetCondition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Status != b[i].Status || a[i].Reason != b[i].Reason ||
			a[i].Message != b[i].Message || !a[i].LastTransitionTime.Equal(&b[i].LastTransitionTime) {
			return false
		}
	}
	return true
}

// podFromTemplate is a new pod of template owned by ref, named after its owner, as upstream's
// GetPodFromTemplate.
func podFromTemplate(template *corev1.PodTemplateSpec, namespace, ownerName string, ref *metav1.OwnerReference) *corev1.Pod {
	prefix := ownerName + "-"
	if len(validation.IsDNS1123Subdomain(ownerName)) != 0 || len(prefix) > validation.DNS1123SubdomainMaxLength {
		prefix = ownerName
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    namespace,
			GenerateName: prefix,
			Labels:       copyMap(template.Labels),
			Annotations:  copyMap(template.Annotations),
			Finalizers:   append([]string(nil), template.Finalizers...),
		},
		Spec: *template.Spec.DeepCopy(),
	}
	if ref != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	return pod
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// slowStartBatch calls fn count times, in batches of 1, 2, 4, ... calls run in parallel, and stops after
// the first batch in which a call fails. It returns how many calls succeeded and the first error.
func slowStartBatch(count, initialBatchSize int, fn func() error) (int, error) {
	successes := 0
	for batch := min(count, initialBatchSize); batch > 0; batch = min(2*batch, count-successes) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Go(func() {
				if err := fn(); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		successes += batch - len(errs)
		if len(errs) > 0 {
			return successes, <-errs
		}
	}
	return successes, nil
}

// podsToDelete picks the diff pods to delete first, as upstream's getPodsToDelete: related are the
// pods of all replica sets under the same controller, whose count on a pod's node ranks it.
func podsToDelete(pods, related []*corev1.Pod, diff int, now time.Time) []*corev1.Pod {
	if diff >= len(pods) {
		return pods
	}
	onNode := map[string]int{}
	for _, pod := range related {
		if isActive(pod) {
			onNode[pod.Spec.NodeName]++
		}
	}
	order := deletionOrder{pods: append([]*corev1.Pod(nil), pods...), rank: make([]int, len(pods)), now: now}
	for i, pod := range order.pods {
		order.rank[i] = onNode[pod.Spec.NodeName]
	}
	sort.Sort(order)
	return order.pods[:diff]
}

// deletionOrder sorts pods best-to-delete first, as upstream's ActivePodsWithRanks with its default
// features (pod deletion cost, logarithmic scale-down):
//  1. unassigned < assigned
//  2. Pending < Unknown < Running
//  3. not ready < ready
//  4. lower controller.kubernetes.io/pod-deletion-cost < higher
//  5. more related pods on the same node < fewer
//  6. ready for a shorter time < longer (in powers-of-two buckets of the time since)
//  7. more container restarts < fewer
//  8. newer < older (in the same buckets), then by UID
type deletionOrder struct {
	pods []*corev1.Pod
	rank []int
	now  time.Time
}

func (o deletionOrder) Len() int { return len(o.pods) }

func (o deletionOrder) Swap(i, j int) {
	o.pods[i], o.pods[j] = o.pods[j], o.pods[i]
	o.rank[i], o.rank[j] = o.rank[j], o.rank[i]
}

var phaseOrdinal = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

func (o deletionOrder) Less(i, j int) bool {
	a, b := o.pods[i], o.pods[j]
	if a.Spec.NodeName != b.Spec.NodeName && (a.Spec.NodeName == "" || b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrdinal[a.Status.Phase], phaseOrdinal[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	if ra, rb := isReady(a), isReady(b); ra != rb {
		return !ra
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if o.rank[i] != o.rank[j] {
		return o.rank[i] > o.rank[j]
	}
	if isReady(a) && isReady(b) {
		ta, tb := readySince(a), readySince(b)
		if !ta.Equal(tb) {
			return o.newerFirst(a, b, ta, tb)
		}
	}
	if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
		return ra > rb
	}
	if sa, sb := sidecarRestarts(a), sidecarRestarts(b); sa != sb {
		return sa > sb
	}
	if ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time; !ta.Equal(tb) {
		return o.newerFirst(a, b, ta, tb)
	}
	return false
}

// newerFirst orders by time, the later (or unknown) first; times in the same power-of-two bucket of
// age count as equal and fall back to the UIDs, so that scaling down spreads over pods of similar age
// instead of always taking the very newest.
func (o deletionOrder) newerFirst(a, b *corev1.Pod, ta, tb time.Time) bool {
	if o.now.IsZero() || ta.IsZero() || tb.IsZero() {
		return afterOrZero(ta, tb)
	}
	if d := ageBucket(o.now.Sub(ta)) - ageBucket(o.now.Sub(tb)); d != 0 {
		return d < 0
	}
	return a.UID < b.UID
}

func ageBucket(age time.Duration) int64 {
	if age <= 0 {
		return -1
	}
	return int64(math.Log2(float64(age)))
}

// afterOrZero tells whether a is after b, a zero time counting as the latest.
func afterOrZero(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b)
}

// readySince is when the pod last became ready.
func readySince(pod *corev1.Pod) time.Time {
	if c := readyCondition(pod); c != nil && c.Status == corev1.ConditionTrue {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

func maxRestarts(pod *corev1.Pod) int32 {
	var n int32
	for _, c := range pod.Status.ContainerStatuses {
		n = max(n, c.RestartCount)
	}
	return n
}

// sidecarRestarts is the most restarts of the pod's sidecars (init containers that keep running).
func sidecarRestarts(pod *corev1.Pod) int32 {
	sidecars := map[string]bool{}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
		}
	}
	var n int32
	for _, c := range pod.Status.InitContainerStatuses {
		if sidecars[c.Name] {
			n = max(n, c.RestartCount)
		}
	}
	return n
}

// deletionCost is the pod's controller.kubernetes.io/pod-deletion-cost; an absent or invalid value
// counts as 0, as upstream.
func deletionCost(pod *corev1.Pod) int32 {
	v, ok := pod.Annotations[corev1.PodDeletionCost]
	if !ok || v == "" {
		return 0
	}
	// Upstream refuses a plus sign and leading zeros.
	if v[0] == '+' || (v[0] == '0' && v != "0") {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

// ownerRefPatch is the strategic merge patch that makes owner the controller of the object uid.
func ownerRefPatch(ref metav1.OwnerReference, uid string) []byte {
	return fmt.Appendf(nil, `{"metadata":{"ownerReferences":[{"apiVersion":%q,"kind":%q,"name":%q,"uid":%q,"controller":true,"blockOwnerDeletion":true}],"uid":%q}}`,
		ref.APIVersion, ref.Kind, ref.Name, ref.UID, uid)
}

// releasePatch is the strategic merge patch that removes owner from the owners of the object uid.
func releasePatch(owner, uid string) []byte {
	return fmt.Appendf(nil, `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":%q}],"uid":%q}}`, owner, uid)
}
