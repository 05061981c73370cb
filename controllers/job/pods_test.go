package job

import (
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestCompareForRemovalPrefersPodsInEarlierStages(t *testing.T) {
	ready := func(since time.Time) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(since)}}
		}
	}
	pod := func(name, node string, phase corev1.PodPhase, created time.Time, mutate ...func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
		for _, m := range mutate {
			m(p)
		}
		return p
	}
	restarts := func(n int32) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: n}} }
	}
	// In the order they should be removed.
	want := []*corev1.Pod{
		pod("unscheduled", "", corev1.PodPending, t0),
		pod("pending", "n", corev1.PodPending, t0),
		pod("unknown", "n", corev1.PodUnknown, t0),
		pod("running-not-ready", "n", corev1.PodRunning, t0),
		pod("ready-recently", "n", corev1.PodRunning, t0, ready(t0.Add(time.Hour))),
		pod("ready-long-restarted", "n", corev1.PodRunning, t0, ready(t0), restarts(3)),
		pod("ready-long-newer", "n", corev1.PodRunning, t0.Add(time.Minute), ready(t0)),
		pod("ready-long-older", "n", corev1.PodRunning, t0, ready(t0)),
	}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortStableFunc(got, compareForRemoval)
	for i := range want {
		if got[i].Name != want[i].Name {
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
			}
			t.Fatalf("removal order %v", names)
		}
	}
}

func TestActivePodsForRemoval(t *testing.T) {
	nonIndexed := &batchv1.Job{Spec: batchv1.JobSpec{Completions: ptr.To(int32(3))}}
	a := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	b := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	if got := activePodsForRemoval(nonIndexed, []*corev1.Pod{a, b}, 1); len(got) != 1 || got[0].Name != "b" {
		t.Errorf("removing 1 of a running and a pending pod: %v, want the pending one", got)
	}
	if got := activePodsForRemoval(nonIndexed, []*corev1.Pod{a, b}, 0); len(got) != 0 {
		t.Errorf("removing none removed %d", len(got))
	}
	if got := activePodsForRemoval(nonIndexed, []*corev1.Pod{a, b}, 5); len(got) != 2 {
		t.Errorf("removing more than there are: %d pods, want 2", len(got))
	}
	indexed := indexedJob(3, 3, nil)
	dup := []*corev1.Pod{indexedPod("x", 0, corev1.PodRunning, nil), indexedPod("y", 0, corev1.PodRunning, nil), indexedPod("z", 1, corev1.PodRunning, nil)}
	if got := activePodsForRemoval(indexed, dup, 0); len(got) != 1 || completionIndex(got[0]) != 0 {
		t.Errorf("an indexed job with a duplicate index removes %v, want one pod of index 0", got)
	}
}

func TestWantActive(t *testing.T) {
	cases := []struct {
		name                      string
		completions               *int32
		parallelism               int32
		active, succeeded, wanted int32
	}{
		{"parallelism bounds a fresh job", ptr.To(int32(5)), 2, 0, 0, 2},
		{"remaining completions bound it", ptr.To(int32(5)), 2, 2, 4, 1},
		{"nothing left to do", ptr.To(int32(5)), 2, 1, 5, 0},
		{"more succeeded than asked", ptr.To(int32(2)), 2, 0, 3, 0},
		{"work queue starts parallelism pods", nil, 3, 0, 0, 3},
		{"work queue keeps what runs after a success", nil, 3, 2, 1, 2},
		{"parallelism 0 pauses", ptr.To(int32(5)), 0, 1, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := &batchv1.Job{Spec: batchv1.JobSpec{Completions: tc.completions, Parallelism: ptr.To(tc.parallelism)}}
			if got := wantActive(job, tc.active, tc.succeeded); got != tc.wanted {
				t.Errorf("wantActive = %d, want %d", got, tc.wanted)
			}
		})
	}
}

func TestIsPodFailedDependsOnReplacementPolicy(t *testing.T) {
	deleting := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: ptr.To(metav1.NewTime(t0))}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	deletedSucceeded := deleting.DeepCopy()
	deletedSucceeded.Status.Phase = corev1.PodSucceeded
	failed := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}
	terminatingOrFailed := &batchv1.Job{}
	onlyFailed := &batchv1.Job{Spec: batchv1.JobSpec{PodReplacementPolicy: ptr.To(batchv1.Failed)}}
	withPolicy := &batchv1.Job{Spec: batchv1.JobSpec{PodFailurePolicy: &batchv1.PodFailurePolicy{}}}
	cases := []struct {
		name string
		pod  *corev1.Pod
		job  *batchv1.Job
		want bool
	}{
		{"a Failed pod", failed, onlyFailed, true},
		{"a deleted running pod by default", deleting, terminatingOrFailed, true},
		{"a deleted running pod when only failed pods are replaced", deleting, onlyFailed, false},
		{"a deleted running pod under a pod failure policy", deleting, withPolicy, false},
		{"a deleted pod that succeeded", deletedSucceeded, terminatingOrFailed, false},
	}
	for _, tc := range cases {
		if got := isPodFailed(tc.pod, tc.job); got != tc.want {
			t.Errorf("%s: isPodFailed = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestFinishTime(t *testing.T) {
	terminated := func(at time.Time) corev1.ContainerStatus {
		return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(at)}}}
	}
	cases := []struct {
		name string
		pod  corev1.Pod
		want time.Time
	}{
		{"the last container to exit", corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
			terminated(t0.Add(time.Second)), terminated(t0.Add(3 * time.Second))}}}, t0.Add(3 * time.Second)},
		{"else when it stopped being ready", corev1.Pod{Status: corev1.PodStatus{
			ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(t0.Add(time.Minute))}},
		}}, t0.Add(time.Minute)},
		{"else its deletion less the grace period", corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			DeletionTimestamp: ptr.To(metav1.NewTime(t0.Add(time.Hour))), DeletionGracePeriodSeconds: ptr.To(int64(30))}}, t0.Add(time.Hour - 30*time.Second)},
		{"else its creation", corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(t0)}}, t0},
	}
	for _, tc := range cases {
		if got := finishTime(&tc.pod); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNewPodOfIndexedJob(t *testing.T) {
	job := indexedJob(4, 2, func(j *batchv1.Job) {
		j.Spec.BackoffLimitPerIndex = ptr.To(int32(2))
		j.Spec.Template = corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}, Annotations: map[string]string{"note": "y"}},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "init"}},
				Containers:     []corev1.Container{{Name: "main", Env: []corev1.EnvVar{{Name: "A", Value: "1"}}}},
			},
		}
	})
	template := podTemplate(job)
	replaced := indexedPod("old", 3, corev1.PodFailed, func(p *corev1.Pod) { p.Annotations[batchv1.JobIndexFailureCountAnnotation] = "1" })
	pod := newPod(job, template, 3, replaced)

	if pod.GenerateName != "job-3-" || pod.Spec.Hostname != "job-3" {
		t.Errorf("generateName %q, hostname %q; want job-3-, job-3", pod.GenerateName, pod.Spec.Hostname)
	}
	if pod.Annotations[batchv1.JobCompletionIndexAnnotation] != "3" || pod.Labels[batchv1.JobCompletionIndexAnnotation] != "3" {
		t.Errorf("index annotation/label %q/%q, want 3/3", pod.Annotations[batchv1.JobCompletionIndexAnnotation], pod.Labels[batchv1.JobCompletionIndexAnnotation])
	}
	if pod.Annotations[batchv1.JobIndexFailureCountAnnotation] != "2" {
		t.Errorf("failure count %q, want 2 (inherited 1, plus the failure of the replaced pod)", pod.Annotations[batchv1.JobIndexFailureCountAnnotation])
	}
	if pod.Labels["app"] != "x" || pod.Annotations["note"] != "y" {
		t.Errorf("template labels/annotations lost: %v %v", pod.Labels, pod.Annotations)
	}
	if !slices.Equal(pod.Finalizers, []string{batchv1.JobTrackingFinalizer}) {
		t.Errorf("finalizers %v, want the tracking finalizer", pod.Finalizers)
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.UID != job.UID || ref.Kind != "Job" || ref.APIVersion != "batch/v1" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Errorf("controller reference %+v", ref)
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == completionIndexEnv })
		if i < 0 || c.Env[i].ValueFrom.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("container %s env %v: want JOB_COMPLETION_INDEX from the label", c.Name, c.Env)
		}
	}
	if job.Spec.Template.Labels[batchv1.JobCompletionIndexAnnotation] != "" || len(job.Spec.Template.Spec.Containers[0].Env) != 1 {
		t.Errorf("making a pod changed the job's template")
	}
	other := newPod(job, template, 0, nil)
	if other.Annotations[batchv1.JobIndexFailureCountAnnotation] != "0" || pod.Labels[batchv1.JobCompletionIndexAnnotation] != "3" {
		t.Errorf("pods made from one template share state")
	}
}

func TestNewPodOfNonIndexedJob(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "plain", UID: "u"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main"}}}}}}
	pod := newPod(job, podTemplate(job), noIndex, nil)
	if pod.GenerateName != "plain-" || pod.Spec.Hostname != "" || pod.Namespace != "ns" {
		t.Errorf("generateName %q, hostname %q, namespace %q", pod.GenerateName, pod.Spec.Hostname, pod.Namespace)
	}
	if len(pod.Spec.Containers[0].Env) != 0 || pod.Annotations[batchv1.JobCompletionIndexAnnotation] != "" {
		t.Errorf("a non-indexed pod got index information")
	}
}
