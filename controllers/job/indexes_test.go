package job

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
)

func TestParseIntervalsAndString(t *testing.T) {
	cases := []struct {
		in          string
		completions int
		want        string
		total       int
	}{
		{"", 5, "", 0},
		{"0", 5, "0", 1},
		{"1,3-5", 10, "1,3-5", 4},
		{"1,2", 10, "1,2", 2},
		{"1-2", 10, "1,2", 2},
		{"0-2,3,5", 10, "0-3,5", 5},
		{"1,3-5,7", 5, "1,3,4", 3},
		{"6,8", 5, "", 0},
		{"x,2,3-y,4", 10, "2,4", 2},
		{"3,1", 10, "1,3", 2},
		{"-1,2", 10, "2", 1},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q below %d", tc.in, tc.completions), func(t *testing.T) {
			iv := parseIntervals(tc.in, tc.completions)
			if got := iv.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			if got := iv.total(); got != tc.total {
				t.Errorf("total() = %d, want %d", got, tc.total)
			}
		})
	}
}

func TestIntervalsWithIndexesMergesNeighbours(t *testing.T) {
	cases := []struct {
		base    string
		indexes []int
		want    string
	}{
		{"", []int{3, 1, 2}, "1-3"},
		{"0,4", []int{2}, "0,2,4"},
		{"0,4", []int{1, 3}, "0,1,3,4"},
		{"0,4", []int{1, 2, 3}, "0-4"},
		{"2-5", []int{3, 4}, "2-5"},
		{"2-5", []int{6, 7, 9}, "2-7,9"},
		{"5", nil, "5"},
	}
	for _, tc := range cases {
		got := parseIntervals(tc.base, 100).withIndexes(tc.indexes).String()
		if got != tc.want {
			t.Errorf("%q with %v = %q, want %q", tc.base, tc.indexes, got, tc.want)
		}
	}
}

func TestIntervalsHas(t *testing.T) {
	iv := parseIntervals("1,3-5,9", 10)
	for ix := 0; ix < 10; ix++ {
		want := ix == 1 || (ix >= 3 && ix <= 5) || ix == 9
		if got := iv.has(ix); got != want {
			t.Errorf("has(%d) = %t, want %t", ix, got, want)
		}
	}
	if intervals(nil).has(0) {
		t.Errorf("empty intervals have 0")
	}
}

func indexedJob(completions, parallelism int32, mutate func(*batchv1.Job)) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "job", UID: "job-uid"},
		Spec: batchv1.JobSpec{
			Completions:    ptr.To(completions),
			Parallelism:    ptr.To(parallelism),
			CompletionMode: ptr.To(batchv1.IndexedCompletion),
		},
	}
	if mutate != nil {
		mutate(job)
	}
	return job
}

func indexedPod(name string, index int, phase corev1.PodPhase, mutate func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name),
			Finalizers: []string{batchv1.JobTrackingFinalizer}},
		Status: corev1.PodStatus{Phase: phase},
	}
	if index != noIndex {
		pod.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(index)}
	}
	if mutate != nil {
		mutate(pod)
	}
	return pod
}

func TestPendingIndexesSkipsTakenIndexes(t *testing.T) {
	terminating := func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.Now()) }
	cases := []struct {
		name        string
		job         *batchv1.Job
		active      []*corev1.Pod
		terminating []*corev1.Pod
		succeeded   string
		failed      string
		count       int
		want        []int
	}{
		{name: "fresh job takes the lowest indexes", job: indexedJob(5, 3, nil), count: 3, want: []int{0, 1, 2}},
		{name: "active and succeeded indexes are skipped", job: indexedJob(5, 3, nil),
			active: []*corev1.Pod{indexedPod("a", 1, corev1.PodRunning, nil)}, succeeded: "0,3", count: 2, want: []int{2, 4}},
		{name: "never beyond completions", job: indexedJob(3, 3, nil), succeeded: "1", count: 5, want: []int{0, 2}},
		{name: "failed indexes are not retried", job: indexedJob(4, 4, nil), failed: "0,2", count: 4, want: []int{1, 3}},
		{name: "terminating pods hold their index only when replacing failed pods",
			job:         indexedJob(3, 3, func(j *batchv1.Job) { j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed) }),
			terminating: []*corev1.Pod{indexedPod("t", 0, corev1.PodRunning, terminating)}, count: 3, want: []int{1, 2}},
		{name: "terminating pods do not hold their index by default", job: indexedJob(3, 3, nil),
			terminating: []*corev1.Pod{indexedPod("t", 0, corev1.PodRunning, terminating)}, count: 3, want: []int{0, 1, 2}},
		{name: "nothing asked for", job: indexedJob(3, 3, nil), count: 0, want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := pendingIndexes(tc.job, tc.active, tc.terminating, parseIntervals(tc.succeeded, 100), parseIntervals(tc.failed, 100), tc.count)
			if !slices.Equal(got, tc.want) {
				t.Errorf("pendingIndexes = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDuplicateIndexPodsKeepsOnePodPerIndex(t *testing.T) {
	job := indexedJob(3, 3, nil)
	ready := func(p *corev1.Pod) {
		p.Spec.NodeName = "n"
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	pods := []*corev1.Pod{
		indexedPod("a0-pending", 0, corev1.PodPending, nil),
		indexedPod("a0-ready", 0, corev1.PodRunning, ready),
		indexedPod("b1", 1, corev1.PodRunning, nil),
		indexedPod("c-noindex", noIndex, corev1.PodRunning, nil),
		indexedPod("d7-beyond", 7, corev1.PodRunning, nil),
	}
	remove, keep := duplicateIndexPods(job, pods)
	names := func(ps []*corev1.Pod) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	if got, want := names(remove), []string{"a0-pending", "c-noindex", "d7-beyond"}; !slices.Equal(got, want) {
		t.Errorf("remove %v, want %v", got, want)
	}
	if got, want := names(keep), []string{"a0-ready", "b1"}; !slices.Equal(got, want) {
		t.Errorf("keep %v, want %v", got, want)
	}
}

func TestSucceededAndFailedIndexes(t *testing.T) {
	job := indexedJob(6, 6, func(j *batchv1.Job) {
		j.Status.CompletedIndexes = "0"
		j.Spec.BackoffLimitPerIndex = ptr.To(int32(1))
		j.Status.FailedIndexes = ptr.To("5")
	})
	failedTwice := func(p *corev1.Pod) { p.Annotations[batchv1.JobIndexFailureCountAnnotation] = "1" }
	pods := []*corev1.Pod{
		indexedPod("s2", 2, corev1.PodSucceeded, nil),
		indexedPod("s3-counted", 3, corev1.PodSucceeded, func(p *corev1.Pod) { p.Finalizers = nil }),
		indexedPod("s9-beyond", 9, corev1.PodSucceeded, nil),
		indexedPod("f1-first", 1, corev1.PodFailed, nil),
		indexedPod("f4-second", 4, corev1.PodFailed, failedTwice),
	}
	prev, now := succeededIndexes(job, pods)
	if prev.String() != "0" || now.String() != "0,2" {
		t.Errorf("succeeded indexes %q -> %q, want \"0\" -> \"0,2\"", prev, now)
	}
	if got := failedIndexes(job, pods).String(); got != "4,5" {
		t.Errorf("failed indexes %q, want \"4,5\" (index 1 has a retry left)", got)
	}
}

func TestFailIndexRuleFailsTheIndexAtOnce(t *testing.T) {
	job := indexedJob(2, 2, func(j *batchv1.Job) {
		j.Spec.BackoffLimitPerIndex = ptr.To(int32(3))
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action:      batchv1.PodFailurePolicyActionFailIndex,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{7}},
		}}}
	})
	pod := indexedPod("p", 1, corev1.PodFailed, withExitCode(7))
	if !isIndexFailed(job, pod) {
		t.Errorf("a FailIndex rule match does not fail the index")
	}
	if isIndexFailed(job, indexedPod("q", 1, corev1.PodFailed, withExitCode(1))) {
		t.Errorf("an ordinary first failure fails the index despite backoffLimitPerIndex 3")
	}
}

func TestPodsWithDelayedDeletionPicksTheLatestFailurePerIndex(t *testing.T) {
	job := indexedJob(4, 4, func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptr.To(int32(5)) })
	count := func(n string) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Annotations[batchv1.JobIndexFailureCountAnnotation] = n }
	}
	pods := []*corev1.Pod{
		indexedPod("i0-first", 0, corev1.PodFailed, count("0")),
		indexedPod("i0-second", 0, corev1.PodFailed, count("1")),
		indexedPod("i1-failed", 1, corev1.PodFailed, nil),
		indexedPod("i2-failed", 2, corev1.PodFailed, nil),
		indexedPod("i3-failed", 3, corev1.PodFailed, nil),
	}
	active := []*corev1.Pod{indexedPod("i1-running", 1, corev1.PodRunning, nil)}
	got := podsWithDelayedDeletion(job, pods, active, parseIntervals("2", 4), nil, sets.New("i3-failed"))
	names := map[int]string{}
	for ix, p := range got {
		names[ix] = p.Name
	}
	want := map[int]string{0: "i0-second"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("delayed deletions %v, want %v (index 1 has a replacement, 2 succeeded, 3's pod is already released)", names, want)
	}
}

func TestNextIndexFailureCounts(t *testing.T) {
	ignoreDisruption := &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:          batchv1.PodFailurePolicyActionIgnore,
		OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
	}}}
	replaced := indexedPod("r", 0, corev1.PodFailed, func(p *corev1.Pod) {
		p.Annotations[batchv1.JobIndexFailureCountAnnotation] = "2"
		p.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = "1"
	})
	disrupted := replaced.DeepCopy()
	disrupted.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}
	cases := []struct {
		name            string
		policy          *batchv1.PodFailurePolicy
		replaced        *corev1.Pod
		failures, ignor int32
	}{
		{"first pod of an index", nil, nil, 0, 0},
		{"a counted failure adds one", nil, replaced, 3, 1},
		{"an ignored failure adds to the ignored count", ignoreDisruption, disrupted, 2, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := indexedJob(1, 1, func(j *batchv1.Job) { j.Spec.PodFailurePolicy = tc.policy })
			f, i := nextIndexFailureCounts(job, tc.replaced)
			if f != tc.failures || i != tc.ignor {
				t.Errorf("counts %d/%d, want %d/%d", f, i, tc.failures, tc.ignor)
			}
		})
	}
}

func TestPodGenerateNameWithIndexKeepsTheIndex(t *testing.T) {
	if got := podGenerateNameWithIndex("job", 3); got != "job-3-" {
		t.Errorf("got %q, want job-3-", got)
	}
	long := strings.Repeat("x", 63)
	got := podGenerateNameWithIndex(long, 12)
	if len(got) != maxGeneratedNameLength || !strings.HasSuffix(got, "-12-") {
		t.Errorf("got %q (%d chars), want %d chars ending in -12-", got, len(got), maxGeneratedNameLength)
	}
}

func TestCompletionIndexRejectsBadAnnotations(t *testing.T) {
	for value, want := range map[string]int{"0": 0, "12": 12, "-1": noIndex, "x": noIndex, "": noIndex} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{batchv1.JobCompletionIndexAnnotation: value}}}
		if got := completionIndex(pod); got != want {
			t.Errorf("completionIndex(%q) = %d, want %d", value, got, want)
		}
	}
	if got := completionIndex(&corev1.Pod{}); got != noIndex {
		t.Errorf("pod without annotations: %d, want noIndex", got)
	}
}
