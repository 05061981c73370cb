package job

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
)

func TestIsComplete(t *testing.T) {
	withCompletions := &batchv1.Job{Spec: batchv1.JobSpec{Completions: ptr.To(int32(3))}}
	workQueue := &batchv1.Job{}
	cases := []struct {
		name              string
		job               *batchv1.Job
		succeeded, active int32
		want              bool
	}{
		{"completions reached", withCompletions, 3, 0, true},
		{"completions reached but a pod still runs", withCompletions, 3, 1, false},
		{"completions missing", withCompletions, 2, 0, false},
		{"work queue with a success and nothing running", workQueue, 1, 0, true},
		{"work queue with a success and pods running", workQueue, 1, 2, false},
		{"work queue without success", workQueue, 0, 0, false},
	}
	for _, tc := range cases {
		if got := isComplete(tc.job, tc.succeeded, tc.active); got != tc.want {
			t.Errorf("%s: isComplete = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestPastBackoffLimitOnFailureCountsRestarts(t *testing.T) {
	job := func(limit int32, policy corev1.RestartPolicy) *batchv1.Job {
		return &batchv1.Job{Spec: batchv1.JobSpec{BackoffLimit: ptr.To(limit),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: policy}}}}
	}
	pod := func(phase corev1.PodPhase, restarts ...int32) *corev1.Pod {
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: phase}}
		for _, n := range restarts {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{RestartCount: n})
		}
		return p
	}
	cases := []struct {
		name string
		job  *batchv1.Job
		pods []*corev1.Pod
		want bool
	}{
		{"restarts reach the limit", job(3, corev1.RestartPolicyOnFailure), []*corev1.Pod{pod(corev1.PodRunning, 1, 1), pod(corev1.PodPending, 1)}, true},
		{"restarts below the limit", job(3, corev1.RestartPolicyOnFailure), []*corev1.Pod{pod(corev1.PodRunning, 2)}, false},
		{"limit 0 allows no restart", job(0, corev1.RestartPolicyOnFailure), []*corev1.Pod{pod(corev1.PodRunning, 1)}, true},
		{"finished pods do not count", job(1, corev1.RestartPolicyOnFailure), []*corev1.Pod{pod(corev1.PodFailed, 5)}, false},
		{"restartPolicy Never does not count restarts", job(1, corev1.RestartPolicyNever), []*corev1.Pod{pod(corev1.PodRunning, 5)}, false},
	}
	for _, tc := range cases {
		if got := pastBackoffLimitOnFailure(tc.job, tc.pods); got != tc.want {
			t.Errorf("%s: %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestPastActiveDeadline(t *testing.T) {
	job := func(deadline *int64, start *time.Time, suspend bool) *batchv1.Job {
		j := &batchv1.Job{Spec: batchv1.JobSpec{ActiveDeadlineSeconds: deadline, Suspend: ptr.To(suspend)}}
		if start != nil {
			j.Status.StartTime = ptr.To(metav1.NewTime(*start))
		}
		return j
	}
	now := t0.Add(time.Minute)
	cases := []struct {
		name string
		job  *batchv1.Job
		want bool
	}{
		{"deadline passed", job(ptr.To(int64(60)), &t0, false), true},
		{"deadline not reached", job(ptr.To(int64(61)), &t0, false), false},
		{"no deadline", job(nil, &t0, false), false},
		{"not started", job(ptr.To(int64(1)), nil, false), false},
		{"suspended jobs do not run out of time", job(ptr.To(int64(1)), &t0, true), false},
	}
	for _, tc := range cases {
		if got := pastActiveDeadline(tc.job, now); got != tc.want {
			t.Errorf("%s: %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestCountUncountedMovesReleasedPodsIntoCounters(t *testing.T) {
	st := &batchv1.JobStatus{
		Succeeded: 1, Failed: 2,
		UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"s1", "s2"}, Failed: []types.UID{"f1"}},
	}
	if !countUncounted(st, sets.New("s2")) {
		t.Fatalf("nothing moved")
	}
	if st.Succeeded != 2 || st.Failed != 3 {
		t.Errorf("succeeded/failed = %d/%d, want 2/3", st.Succeeded, st.Failed)
	}
	if u := st.UncountedTerminatedPods; len(u.Succeeded) != 1 || u.Succeeded[0] != "s2" || len(u.Failed) != 0 {
		t.Errorf("uncounted left %+v, want only s2, whose finalizer is still there", u)
	}
	if countUncounted(st, sets.New("s2")) {
		t.Errorf("moved again without a change")
	}
}

func TestEnsureCondition(t *testing.T) {
	var list []batchv1.JobCondition
	list, changed := ensureCondition(list, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", t0)
	if changed || len(list) != 0 {
		t.Fatalf("a False condition was added where there was none")
	}
	list, changed = ensureCondition(list, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", t0)
	if !changed || len(list) != 1 || list[0].LastTransitionTime.Time != t0 {
		t.Fatalf("adding: %v, %t", list, changed)
	}
	if _, changed = ensureCondition(list, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", t0.Add(time.Hour)); changed {
		t.Fatalf("the same condition again counts as a change")
	}
	list, changed = ensureCondition(list, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", t0.Add(time.Hour))
	if !changed || len(list) != 1 || list[0].Status != corev1.ConditionFalse || list[0].LastTransitionTime.Time != t0.Add(time.Hour) {
		t.Fatalf("flipping: %v, %t", list, changed)
	}
}

// state makes the sync state decideOutcome reads for a job and its pods.
func state(job *batchv1.Job, failed int32, pods ...*corev1.Pod) *syncState {
	s := &syncState{now: t0, job: job, pods: pods, failed: failed, expectedRmFinalizers: sets.New[string]()}
	for _, p := range pods {
		if isActive(p) {
			s.active = append(s.active, p)
		}
	}
	return s
}

func TestDecideOutcome(t *testing.T) {
	plain := func(mutate func(*batchv1.Job)) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "job"},
			Spec: batchv1.JobSpec{Completions: ptr.To(int32(2)), Parallelism: ptr.To(int32(2)), BackoffLimit: ptr.To(int32(2))}}
		if mutate != nil {
			mutate(j)
		}
		return j
	}
	failJobOn42 := func(j *batchv1.Job) {
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionFailJob,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}}}}
	}
	cases := []struct {
		name        string
		s           *syncState
		wantType    batchv1.JobConditionType
		wantReason  string
		wantRequeue time.Duration
	}{
		{name: "nothing decided", s: state(plain(nil), 2)},
		{name: "backoff limit exceeded", s: state(plain(nil), 3),
			wantType: batchv1.JobFailureTarget, wantReason: batchv1.JobReasonBackoffLimitExceeded},
		{name: "a FailJob rule matched", s: state(plain(failJobOn42), 0, failedPod(withExitCode(42))),
			wantType: batchv1.JobFailureTarget, wantReason: batchv1.JobReasonPodFailurePolicy},
		{name: "an earlier FailureTarget leads to Failed", s: state(plain(func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{*newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonDeadlineExceeded, msgDeadlineExceeded, t0)}
		}), 0), wantType: batchv1.JobFailed, wantReason: batchv1.JobReasonDeadlineExceeded},
		{name: "deadline passed", s: state(plain(func(j *batchv1.Job) {
			j.Spec.ActiveDeadlineSeconds = ptr.To(int64(10))
			j.Status.StartTime = ptr.To(metav1.NewTime(t0.Add(-10 * time.Second)))
		}), 0), wantType: batchv1.JobFailureTarget, wantReason: batchv1.JobReasonDeadlineExceeded},
		{name: "deadline ahead is a reason to look again", s: state(plain(func(j *batchv1.Job) {
			j.Spec.ActiveDeadlineSeconds = ptr.To(int64(10))
			j.Status.StartTime = ptr.To(metav1.NewTime(t0.Add(-4 * time.Second)))
		}), 0), wantRequeue: 6 * time.Second},
		{name: "too many failed indexes", s: state(indexedJob(4, 4, func(j *batchv1.Job) {
			j.Spec.BackoffLimitPerIndex = ptr.To(int32(0))
			j.Spec.MaxFailedIndexes = ptr.To(int32(1))
			j.Status.FailedIndexes = ptr.To("0,1")
		}), 0), wantType: batchv1.JobFailureTarget, wantReason: batchv1.JobReasonMaxFailedIndexesExceeded},
		{name: "every index finished and some failed", s: state(indexedJob(2, 2, func(j *batchv1.Job) {
			j.Spec.BackoffLimitPerIndex = ptr.To(int32(0))
			j.Status.FailedIndexes = ptr.To("0")
			j.Status.CompletedIndexes = "1"
		}), 0), wantType: batchv1.JobFailureTarget, wantReason: batchv1.JobReasonFailedIndexes},
		{name: "a success policy met", s: state(indexedJob(5, 5, func(j *batchv1.Job) {
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0")}}}
		}), 0, indexedPod("p0", 0, corev1.PodSucceeded, nil)), wantType: batchv1.JobSuccessCriteriaMet, wantReason: batchv1.JobReasonSuccessPolicy},
		{name: "an earlier SuccessCriteriaMet stands even if a FailJob rule matches now", s: state(plain(func(j *batchv1.Job) {
			failJobOn42(j)
			j.Status.Conditions = []batchv1.JobCondition{*newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonSuccessPolicy, "m", t0)}
		}), 0, failedPod(withExitCode(42))), wantType: batchv1.JobSuccessCriteriaMet, wantReason: batchv1.JobReasonSuccessPolicy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			decideOutcome(tc.s)
			var gotType batchv1.JobConditionType
			var gotReason string
			if tc.s.finished != nil {
				gotType, gotReason = tc.s.finished.Type, tc.s.finished.Reason
			}
			if gotType != tc.wantType || gotReason != tc.wantReason {
				t.Errorf("decided %q/%q, want %q/%q", gotType, gotReason, tc.wantType, tc.wantReason)
			}
			if tc.s.requeueAfter != tc.wantRequeue {
				t.Errorf("requeue after %v, want %v", tc.s.requeueAfter, tc.wantRequeue)
			}
		})
	}
}

func TestEnactFinishedWaitsForUncountedAndTerminatingPods(t *testing.T) {
	newState := func(uncounted []types.UID, terminating int32) *syncState {
		job := &batchv1.Job{Status: batchv1.JobStatus{StartTime: ptr.To(metav1.NewTime(t0)),
			UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{Failed: uncounted}}}
		return &syncState{now: t0.Add(time.Minute), job: job, terminating: terminating,
			finished: newCondition(batchv1.JobComplete, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, msgCompletionsReached, t0)}
	}
	if newState([]types.UID{"p"}, 0).enactFinished() {
		t.Errorf("finished with an uncounted pod")
	}
	if newState(nil, 1).enactFinished() {
		t.Errorf("finished with a terminating pod")
	}
	s := newState(nil, 0)
	if !s.enactFinished() {
		t.Fatalf("not finished with all pods counted and gone")
	}
	if !hasCondition(s.job, batchv1.JobComplete, batchv1.JobReasonCompletionsReached) || s.job.Status.CompletionTime == nil ||
		!s.job.Status.CompletionTime.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("status %+v: want Complete with completionTime", s.job.Status)
	}
}

func TestCanRemoveFinalizerDelaysTheLastFailureOfAnIndex(t *testing.T) {
	job := indexedJob(2, 2, func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptr.To(int32(2)) })
	waiting := indexedPod("waiting", 0, corev1.PodFailed, nil)
	other := indexedPod("other", 1, corev1.PodFailed, nil)
	running := indexedPod("running", 1, corev1.PodRunning, nil)
	s := &syncState{job: job, delayedDeletion: map[int]*corev1.Pod{0: waiting}}
	if s.canRemoveFinalizer(waiting, true) {
		t.Errorf("the failed pod whose index awaits a replacement lost its finalizer")
	}
	if !s.canRemoveFinalizer(other, true) {
		t.Errorf("a failed pod with nothing to wait for kept its finalizer")
	}
	if s.canRemoveFinalizer(running, false) {
		t.Errorf("a running pod lost its finalizer")
	}
	s.finished = newCondition(batchv1.JobFailed, corev1.ConditionTrue, "r", "m", t0)
	if !s.canRemoveFinalizer(running, false) || !s.canRemoveFinalizer(waiting, true) {
		t.Errorf("a finished job keeps finalizers")
	}
}
