package statefulset

import (
	"regexp"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var (
	setKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	podKind = corev1.SchemeGroupVersion.WithKind("Pod")
)

// podNameRE splits a pod name into the set's name and the ordinal.
var podNameRE = regexp.MustCompile(`^(.*)-([0-9]+)$`)

// parentAndOrdinal returns the name of the set a pod belongs to by its name, and its ordinal; -1 when
// the name is not <set>-<ordinal>.
func parentAndOrdinal(pod *corev1.Pod) (string, int) {
	m := podNameRE.FindStringSubmatch(pod.Name)
	if m == nil {
		return "", -1
	}
	ordinal, err := strconv.ParseInt(m[2], 10, 32)
	if err != nil {
		return "", -1
	}
	return m[1], int(ordinal)
}

// ordinalOf is pod's ordinal, -1 if its name has none.
func ordinalOf(pod *corev1.Pod) int {
	_, ordinal := parentAndOrdinal(pod)
	return ordinal
}

// isMemberOf tells whether pod's name makes it one of set's pods.
func isMemberOf(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, ordinal := parentAndOrdinal(pod)
	return ordinal >= 0 && parent == set.Name
}

// replicas is spec.replicas, 1 when unset as the API defaults it.
func replicas(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

// startOrdinal is the first ordinal of set's pods: spec.ordinals.start, or 0.
func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

// endOrdinal is the last ordinal of set's pods (start-1 for none).
func endOrdinal(set *appsv1.StatefulSet) int {
	return startOrdinal(set) + replicas(set) - 1
}

// inOrdinalRange tells whether pod's ordinal is one set keeps at its current size.
func inOrdinalRange(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	ordinal := ordinalOf(pod)
	return ordinal >= startOrdinal(set) && ordinal <= endOrdinal(set)
}

func podName(set *appsv1.StatefulSet, ordinal int) string {
	return set.Name + "-" + strconv.Itoa(ordinal)
}

// claimName is the name of the claim made from template for the pod with the given ordinal.
func claimName(set *appsv1.StatefulSet, template *corev1.PersistentVolumeClaim, ordinal int) string {
	return template.Name + "-" + set.Name + "-" + strconv.Itoa(ordinal)
}

// identityMatches tells whether pod has the name, namespace and pod-name label of a member of set.
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, ordinal := parentAndOrdinal(pod)
	return ordinal >= 0 && parent == set.Name && pod.Name == podName(set, ordinal) &&
		pod.Namespace == set.Namespace && pod.Labels[appsv1.StatefulSetPodNameLabel] == pod.Name
}

// storageMatches tells whether pod mounts, under each claim template's name, the claim made for it.
func storageMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	ordinal := ordinalOf(pod)
	if ordinal < 0 {
		return false
	}
	volumes := make(map[string]corev1.Volume, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	for i := range set.Spec.VolumeClaimTemplates {
		template := &set.Spec.VolumeClaimTemplates[i]
		v, ok := volumes[template.Name]
		if !ok || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claimName(set, template, ordinal) {
			return false
		}
	}
	return true
}

// claimsFor returns the claims pod uses, one per claim template in the templates' order: named for the
// pod, labelled with the template's labels and the set's selector labels.
func claimsFor(set *appsv1.StatefulSet, pod *corev1.Pod) []*corev1.PersistentVolumeClaim {
	ordinal := ordinalOf(pod)
	claims := make([]*corev1.PersistentVolumeClaim, 0, len(set.Spec.VolumeClaimTemplates))
	for i := range set.Spec.VolumeClaimTemplates {
		claim := set.Spec.VolumeClaimTemplates[i].DeepCopy()
		claim.Name = claimName(set, &set.Spec.VolumeClaimTemplates[i], ordinal)
		claim.Namespace = set.Namespace
		if set.Spec.Selector != nil && len(set.Spec.Selector.MatchLabels) > 0 {
			if claim.Labels == nil {
				claim.Labels = make(map[string]string, len(set.Spec.Selector.MatchLabels))
			}
			for k, v := range set.Spec.Selector.MatchLabels {
				claim.Labels[k] = v
			}
		}
		// A template is a pattern, not an object: nothing of its identity carries over.
		claim.UID, claim.ResourceVersion, claim.OwnerReferences = "", "", nil
		claims = append(claims, claim)
	}
	return claims
}

// updateStorage makes pod mount its claims under the claim templates' names, replacing template
// volumes of the same names and keeping the others.
func updateStorage(set *appsv1.StatefulSet, pod *corev1.Pod) {
	claims := claimsFor(set, pod)
	fromClaims := make(map[string]bool, len(claims))
	volumes := make([]corev1.Volume, 0, len(claims)+len(pod.Spec.Volumes))
	for i, claim := range claims {
		name := set.Spec.VolumeClaimTemplates[i].Name
		fromClaims[name] = true
		volumes = append(volumes, corev1.Volume{
			Name:         name,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name}},
		})
	}
	for _, v := range pod.Spec.Volumes {
		if !fromClaims[v.Name] {
			volumes = append(volumes, v)
		}
	}
	pod.Spec.Volumes = volumes
}

// updateIdentity gives pod the name, namespace and the pod-name and pod-index labels of its ordinal.
func updateIdentity(set *appsv1.StatefulSet, pod *corev1.Pod) {
	ordinal := ordinalOf(pod)
	pod.Name = podName(set, ordinal)
	pod.Namespace = set.Namespace
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
	pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ordinal)
}

// newPod returns set's pod with the given ordinal, made from set's template: its stable name, hostname
// and subdomain (the set's governing service), its claims mounted, and set as its controller.
func newPod(set *appsv1.StatefulSet, ordinal int) *corev1.Pod {
	t := set.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            podName(set, ordinal),
			Namespace:       set.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, setKind)},
		},
		Spec: t.Spec,
	}
	updateIdentity(set, pod)
	// Hostname and subdomain are set once, at creation: they are immutable in a pod.
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
	updateStorage(set, pod)
	return pod
}

// newRevisionedPod returns the pod with the given ordinal at the revision it should have: the current
// revision below the rolling update's partition, the update revision otherwise.
func newRevisionedPod(currentSet, updateSet *appsv1.StatefulSet, currentRevision, updateRevision string, ordinal int) *corev1.Pod {
	strategy := currentSet.Spec.UpdateStrategy
	if strategy.Type == appsv1.RollingUpdateStatefulSetStrategyType || strategy.Type == "" {
		boundary := startOrdinal(currentSet) + int(currentSet.Status.CurrentReplicas)
		if ru := strategy.RollingUpdate; ru != nil {
			boundary = startOrdinal(currentSet) + int(partition(currentSet))
		}
		if ordinal < boundary {
			pod := newPod(currentSet, ordinal)
			pod.Labels[appsv1.StatefulSetRevisionLabel] = currentRevision
			return pod
		}
	}
	pod := newPod(updateSet, ordinal)
	pod.Labels[appsv1.StatefulSetRevisionLabel] = updateRevision
	return pod
}

// partition is the rolling update's partition, 0 when unset.
func partition(set *appsv1.StatefulSet) int32 {
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		return *ru.Partition
	}
	return 0
}

// maxUnavailable is how many pods a rolling update may have unavailable at once: rollingUpdate's
// maxUnavailable of the replicas, rounded down, at least 1.
func maxUnavailable(set *appsv1.StatefulSet) int {
	value := intstr.FromInt32(1)
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		value = *ru.MaxUnavailable
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&value, replicas(set), false)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func revisionOf(pod *corev1.Pod) string {
	return pod.Labels[appsv1.StatefulSetRevisionLabel]
}

// isCreated tells whether pod exists in the API (the server gives every pod a phase), as opposed to one
// the controller is about to create.
func isCreated(pod *corev1.Pod) bool { return pod.Status.Phase != "" }

func isPending(pod *corev1.Pod) bool     { return pod.Status.Phase == corev1.PodPending }
func isFailed(pod *corev1.Pod) bool      { return pod.Status.Phase == corev1.PodFailed }
func isSucceeded(pod *corev1.Pod) bool   { return pod.Status.Phase == corev1.PodSucceeded }
func isTerminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

// readyCondition returns pod's Ready condition, nil if it has none.
func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func isRunningAndReady(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return pod.Status.Phase == corev1.PodRunning && c != nil && c.Status == corev1.ConditionTrue
}

// availableIn is how long until the ready pod counts as available (minReadySeconds after it became
// ready): zero if it is available now, negative if it is not ready.
func availableIn(pod *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	c := readyCondition(pod)
	if c == nil || c.Status != corev1.ConditionTrue {
		return -1
	}
	if minReadySeconds == 0 {
		return 0
	}
	if c.LastTransitionTime.IsZero() {
		// Ready since an unknown time: only a later transition can make it available.
		return -1
	}
	at := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second)
	if now.After(at) {
		return 0
	}
	return at.Sub(now) + time.Millisecond
}

// isRunningAndAvailable tells whether pod is Running and has been Ready for minReadySeconds.
func isRunningAndAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return isRunningAndReady(pod) && availableIn(pod, minReadySeconds, now) == 0
}

func isHealthy(pod *corev1.Pod) bool { return isRunningAndReady(pod) && !isTerminating(pod) }

// isUnavailable tells whether pod does not serve as a replica: not created, not running and ready,
// terminating, or ready for less than minReadySeconds.
func isUnavailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return !isHealthy(pod) || !isRunningAndAvailable(pod, minReadySeconds, now)
}
