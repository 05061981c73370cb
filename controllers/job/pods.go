package job

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// jobKind is the kind of the objects this controller owns pods for.
var jobKind = batchv1.SchemeGroupVersion.WithKind("Job")

func hasTrackingFinalizer(pod *corev1.Pod) bool {
	return slices.Contains(pod.Finalizers, batchv1.JobTrackingFinalizer)
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// isActive reports whether a pod counts as active: not finished and not being deleted.
func isActive(pod *corev1.Pod) bool {
	return !isTerminal(pod) && pod.DeletionTimestamp == nil
}

// isTerminating reports whether a pod is being deleted but has not finished yet.
func isTerminating(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp != nil && !isTerminal(pod)
}

func isReady(pod *corev1.Pod) bool {
	c := podCondition(pod, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// onlyReplaceFailedPods says whether a replacement pod waits for the pod it replaces to be fully
// terminated (podReplacementPolicy Failed, implied by a pod failure policy) rather than only deleted.
func onlyReplaceFailedPods(job *batchv1.Job) bool {
	return ptr.Deref(job.Spec.PodReplacementPolicy, batchv1.TerminatingOrFailed) == batchv1.Failed ||
		job.Spec.PodFailurePolicy != nil
}

// isPodFailed reports whether the Job counts a pod as failed: it is Failed, or, unless only failed
// pods are replaced, it is being deleted before it succeeded (a pod that never gets to the Failed
// phase, such as one of a lost node, would otherwise never count).
func isPodFailed(pod *corev1.Pod, job *batchv1.Job) bool {
	if pod.Status.Phase == corev1.PodFailed {
		return true
	}
	if onlyReplaceFailedPods(job) {
		return false
	}
	return pod.DeletionTimestamp != nil && pod.Status.Phase != corev1.PodSucceeded
}

// finishTime estimates when a pod finished: the last container exit, else when it stopped being ready,
// else its deletion time less its grace period, else its creation.
func finishTime(pod *corev1.Pod) time.Time {
	if t, ok := containersFinishTime(pod); ok {
		return t
	}
	if c := podCondition(pod, corev1.PodReady); c != nil && c.Status == corev1.ConditionFalse && !c.LastTransitionTime.IsZero() {
		return c.LastTransitionTime.Time
	}
	if pod.DeletionTimestamp != nil {
		return pod.DeletionTimestamp.Add(-time.Duration(ptr.Deref(pod.DeletionGracePeriodSeconds, 0)) * time.Second)
	}
	return pod.CreationTimestamp.Time
}

func containersFinishTime(pod *corev1.Pod) (time.Time, bool) {
	var latest time.Time
	for _, cs := range pod.Status.ContainerStatuses {
		t := cs.State.Terminated
		if t == nil || t.FinishedAt.IsZero() {
			return time.Time{}, false
		}
		if t.FinishedAt.After(latest) {
			latest = t.FinishedAt.Time
		}
	}
	return latest, !latest.IsZero()
}

// compareForRemoval orders active pods so that those in earlier stages of their life come first,
// which are the ones to delete when there are too many: unscheduled before scheduled, Pending before
// Unknown before Running, not ready before ready, ready for less time before ready for longer, more
// container restarts before fewer, newer before older.
func compareForRemoval(a, b *corev1.Pod) int {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		if a.Spec.NodeName == "" {
			return -1
		}
		return 1
	}
	phaseRank := map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}
	if ra, rb := phaseRank[a.Status.Phase], phaseRank[b.Status.Phase]; ra != rb {
		return ra - rb
	}
	if isReady(a) != isReady(b) {
		if !isReady(a) {
			return -1
		}
		return 1
	}
	if isReady(a) {
		// Ready for less time (a later transition) comes first.
		ta, tb := podCondition(a, corev1.PodReady).LastTransitionTime, podCondition(b, corev1.PodReady).LastTransitionTime
		if c := zeroOrLaterFirst(ta, tb); c != 0 {
			return c
		}
	}
	if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
		if ra > rb {
			return -1
		}
		return 1
	}
	return zeroOrLaterFirst(a.CreationTimestamp, b.CreationTimestamp)
}

// zeroOrLaterFirst orders an unknown (zero) time first, then later times before earlier ones.
func zeroOrLaterFirst(a, b metav1.Time) int {
	switch {
	case a.Equal(&b):
		return 0
	case a.IsZero():
		return -1
	case b.IsZero():
		return 1
	case a.After(b.Time):
		return -1
	}
	return 1
}

func maxRestarts(pod *corev1.Pod) int32 {
	var n int32
	for _, cs := range pod.Status.ContainerStatuses {
		n = max(n, cs.RestartCount)
	}
	return n
}

// activePodsForRemoval picks at least rmAtLeast of the active pods to delete: for an Indexed Job first
// pods without a valid index and duplicates of an index, then those in the earliest stages of their life.
func activePodsForRemoval(job *batchv1.Job, active []*corev1.Pod, rmAtLeast int) []*corev1.Pod {
	var remove, rest []*corev1.Pod
	if isIndexed(job) {
		remove, rest = duplicateIndexPods(job, active)
	} else {
		rest = slices.Clone(active)
	}
	if n := rmAtLeast - len(remove); n > 0 {
		slices.SortStableFunc(rest, compareForRemoval)
		remove = append(remove, rest[:min(n, len(rest))]...)
	}
	return remove
}

// wantActive is how many pods the Job should have running: parallelism, but no more than the
// completions still missing. A Job without completions keeps what runs once any pod succeeded.
func wantActive(job *batchv1.Job, active, succeeded int32) int32 {
	parallelism := ptr.Deref(job.Spec.Parallelism, 1)
	if job.Spec.Completions == nil {
		if succeeded > 0 {
			return active
		}
		return parallelism
	}
	return max(0, min(*job.Spec.Completions-succeeded, parallelism))
}

// podTemplate is the Job's pod template as the Job's pods get it: with the tracking finalizer and, for
// Indexed Jobs, the JOB_COMPLETION_INDEX variable in every container.
func podTemplate(job *batchv1.Job) *corev1.PodTemplateSpec {
	t := job.Spec.Template.DeepCopy()
	if isIndexed(job) {
		for i := range t.Spec.InitContainers {
			addCompletionIndexEnv(&t.Spec.InitContainers[i])
		}
		for i := range t.Spec.Containers {
			addCompletionIndexEnv(&t.Spec.Containers[i])
		}
	}
	if !slices.Contains(t.Finalizers, batchv1.JobTrackingFinalizer) {
		t.Finalizers = append(t.Finalizers, batchv1.JobTrackingFinalizer)
	}
	return t
}

func addCompletionIndexEnv(c *corev1.Container) {
	for _, e := range c.Env {
		if e.Name == completionIndexEnv {
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{
		Name: completionIndexEnv,
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
			FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation),
		}},
	})
}

// newPod makes a pod of the Job from its prepared template. For an Indexed Job (index != noIndex) the
// pod carries its index as annotation and label, is named "<job>-<index>-..." with hostname
// "<job>-<index>", and, with a per-index backoff limit, inherits the failure counts of the pod it replaces.
func newPod(job *batchv1.Job, template *corev1.PodTemplateSpec, index int, replaced *corev1.Pod) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       job.Namespace,
			GenerateName:    job.Name + "-",
			Labels:          copyMap(template.Labels),
			Annotations:     copyMap(template.Annotations),
			Finalizers:      slices.Clone(template.Finalizers),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, jobKind)},
		},
	}
	template.Spec.DeepCopyInto(&pod.Spec)
	if index == noIndex {
		return pod
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(index)
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(index)
	pod.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, index)
	pod.GenerateName = podGenerateNameWithIndex(job.Name, index)
	if hasBackoffLimitPerIndex(job) {
		failures, ignored := nextIndexFailureCounts(job, replaced)
		pod.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(failures))
		if ignored > 0 {
			pod.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = strconv.Itoa(int(ignored))
		}
	}
	return pod
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
