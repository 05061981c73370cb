package batch

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var (
	t0 = metav1.NewTime(time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC))
	t1 = metav1.NewTime(time.Date(2025, 1, 1, 10, 5, 0, 0, time.UTC))
)

func cond(t batchv1.JobConditionType) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue}
}

func runningJob() *batchv1.Job {
	j := validJob()
	j.Status = batchv1.JobStatus{StartTime: &t0, Active: 1, Ready: ptr.To[int32](1), Terminating: ptr.To[int32](0),
		UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}}
	return j
}

func runningIndexedJob() *batchv1.Job {
	j := validIndexedJob()
	j.Status = batchv1.JobStatus{StartTime: &t0, Active: 3, CompletedIndexes: "0-2", Succeeded: 3}
	return j
}

func TestValidateJobStatusUpdate(t *testing.T) {
	statusPath := path("status")
	conditions := statusPath.Child("conditions")
	completeStatus := func(s *batchv1.JobStatus) {
		s.Active, s.Succeeded, s.Ready = 0, 1, ptr.To[int32](0)
		s.CompletionTime = &t1
		s.Conditions = []batchv1.JobCondition{cond(batchv1.JobComplete)}
	}
	cases := []struct {
		name   string
		old    func() *batchv1.Job
		mutate func(*batchv1.Job)
		want   field.ErrorList
	}{
		{"progress passes", runningJob, func(j *batchv1.Job) { j.Status.Failed = 1 }, nil},
		{"completing with a completion time passes", runningJob, func(j *batchv1.Job) { completeStatus(&j.Status) }, nil},
		{"negative counters are invalid", runningJob, func(j *batchv1.Job) {
			j.Status.Active, j.Status.Ready, j.Status.Terminating = -1, ptr.To[int32](-1), ptr.To[int32](-1)
		}, field.ErrorList{
			field.Invalid(statusPath.Child("active"), nil, ""),
			field.Invalid(statusPath.Child("ready"), nil, ""),
			field.Invalid(statusPath.Child("terminating"), nil, ""),
		}},
		{"uncounted pods must be unique and named", runningJob, func(j *batchv1.Job) {
			j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"a", ""}, Failed: []types.UID{"a"}}
		}, field.ErrorList{
			field.Invalid(statusPath.Child("uncountedTerminatedPods", "succeeded").Index(1), nil, "must not be empty"),
			field.Duplicate(statusPath.Child("uncountedTerminatedPods", "failed").Index(0), nil),
		}},
		{"Complete and Failed may not both be true", runningJob, func(j *batchv1.Job) {
			completeStatus(&j.Status)
			j.Status.Conditions = append(j.Status.Conditions, cond(batchv1.JobFailed))
		}, field.ErrorList{
			field.Invalid(conditions, nil, "cannot set Complete=True and Failed=true conditions"),
		}},
		{"Complete and FailureTarget may not both be true", runningJob, func(j *batchv1.Job) {
			completeStatus(&j.Status)
			j.Status.Conditions = append(j.Status.Conditions, cond(batchv1.JobFailureTarget))
		}, field.ErrorList{
			field.Invalid(conditions, nil, "cannot set Complete=True and FailureTarget=true conditions"),
		}},
		{"Complete needs a completion time", runningJob, func(j *batchv1.Job) {
			completeStatus(&j.Status)
			j.Status.CompletionTime = nil
		}, field.ErrorList{
			field.Required(statusPath.Child("completionTime"), "completionTime is required for Complete jobs"),
		}},
		{"completion time needs Complete", runningJob, func(j *batchv1.Job) { j.Status.CompletionTime = &t1 }, field.ErrorList{
			field.Invalid(statusPath.Child("completionTime"), nil, "cannot set completionTime when there is no Complete=True condition"),
		}},
		{"completion time may not precede start time", runningJob, func(j *batchv1.Job) {
			completeStatus(&j.Status)
			j.Status.StartTime, j.Status.CompletionTime = &t1, &t0
		}, field.ErrorList{
			field.Invalid(statusPath.Child("completionTime"), nil, "completionTime cannot be set before startTime"),
		}},
		{"finished job may not have active pods", runningJob, func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailed)}
		}, field.ErrorList{
			field.Invalid(statusPath.Child("active"), nil, "active>0 is invalid for finished job"),
		}},
		{"finished job needs a start time", func() *batchv1.Job { j := runningJob(); j.Status.StartTime = nil; return j }, func(j *batchv1.Job) {
			j.Status.Active = 0
			j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailed)}
		}, field.ErrorList{
			field.Required(statusPath.Child("startTime"), "startTime is required for finished job"),
		}},
		{"finished job may not have uncounted pods", runningJob, func(j *batchv1.Job) {
			j.Status.Active = 0
			j.Status.UncountedTerminatedPods.Failed = []types.UID{"x"}
			j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailed)}
		}, field.ErrorList{
			field.Invalid(statusPath.Child("uncountedTerminatedPods"), nil, "needs to be empty for finished job"),
		}},
		{"terminal conditions may not be removed", func() *batchv1.Job {
			j := runningJob()
			j.Status.Active = 0
			j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailureTarget), cond(batchv1.JobFailed)}
			return j
		}, func(j *batchv1.Job) { j.Status.Conditions = nil }, field.ErrorList{
			field.Invalid(conditions, nil, "cannot disable the terminal Failed=True condition"),
			field.Invalid(conditions, nil, "cannot disable the terminal FailureTarget=True condition"),
		}},
		{"counters may not decrease", func() *batchv1.Job { j := runningJob(); j.Status.Failed, j.Status.Succeeded = 2, 2; return j }, func(j *batchv1.Job) {
			j.Status.Failed, j.Status.Succeeded = 1, 1
		}, field.ErrorList{
			field.Invalid(statusPath.Child("failed"), nil, "cannot decrease the failed counter"),
			field.Invalid(statusPath.Child("succeeded"), nil, "cannot decrease the succeeded counter"),
		}},
		{"succeeded may decrease when an elastic indexed job scales down", runningIndexedJob, func(j *batchv1.Job) {
			j.Status.Succeeded = 2
		}, nil},
		{"completion time may not change", func() *batchv1.Job { j := runningJob(); completeStatus(&j.Status); return j }, func(j *batchv1.Job) {
			later := metav1.NewTime(t1.Add(time.Minute))
			j.Status.CompletionTime = &later
		}, field.ErrorList{
			field.Invalid(statusPath.Child("completionTime"), nil, "completionTime cannot be mutated"),
		}},
		{"start time may not be removed while running", runningJob, func(j *batchv1.Job) { j.Status.StartTime = nil }, field.ErrorList{
			field.Required(statusPath.Child("startTime"), "startTime cannot be removed for unsuspended job"),
		}},
		{"start time may be reset when a job resumes", runningJob, func(j *batchv1.Job) { j.Status.StartTime = &t1 }, nil},
		{"start time may be cleared while suspended", func() *batchv1.Job { j := runningJob(); j.Spec.Suspend = ptr.To(true); return j }, func(j *batchv1.Job) {
			j.Status.StartTime, j.Status.Active = nil, 0
		}, nil},
		{"completed indexes must parse", runningIndexedJob, func(j *batchv1.Job) { j.Status.CompletedIndexes = "0-2,1" }, field.ErrorList{
			field.Invalid(statusPath.Child("completedIndexes"), nil, "error parsing completedIndexes: non-increasing order"),
		}},
		{"an unchanged out-of-range index list is tolerated", func() *batchv1.Job {
			j := runningIndexedJob()
			j.Status.CompletedIndexes = "0-11"
			return j
		}, func(j *batchv1.Job) { j.Status.Active = 2 }, nil},
		{"non-indexed jobs have no completed indexes", runningJob, func(j *batchv1.Job) { j.Status.CompletedIndexes = "0" }, field.ErrorList{
			field.Invalid(statusPath.Child("completedIndexes"), nil, "cannot set non-empty completedIndexes when non-indexed completion mode"),
		}},
		{"failed indexes need a backoff limit per index", runningJob, func(j *batchv1.Job) { j.Status.FailedIndexes = ptr.To("") }, field.ErrorList{
			field.Invalid(statusPath.Child("failedIndexes"), nil, "cannot set non-null failedIndexes when backoffLimitPerIndex is null"),
		}},
		{"failed indexes must parse", runningIndexedJob, func(j *batchv1.Job) { j.Status.FailedIndexes = ptr.To("x") }, field.ErrorList{
			field.Invalid(statusPath.Child("failedIndexes"), nil, "error parsing failedIndexes: cannot convert string to integer"),
		}},
		{"failed and completed indexes may not overlap", runningIndexedJob, func(j *batchv1.Job) { j.Status.FailedIndexes = ptr.To("2,5") }, field.ErrorList{
			field.Invalid(statusPath.Child("failedIndexes"), nil, "failedIndexes and completedIndexes overlap at index: 2"),
		}},
		{"SuccessCriteriaMet may come before Complete on any job", runningJob, func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet)}
		}, nil},
		{"a job with a success policy completes only after SuccessCriteriaMet", func() *batchv1.Job {
			j := runningIndexedJob()
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](3)}}}
			return j
		}, func(j *batchv1.Job) {
			j.Status.Active = 0
			j.Status.CompletionTime = &t1
			j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobComplete)}
		}, field.ErrorList{
			field.Invalid(conditions, nil, "cannot set Complete=True for Job with SuccessPolicy unless SuccessCriteriaMet=True"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := tc.old()
			j := old.DeepCopy()
			tc.mutate(j)
			matcher.Test(t, tc.want, ValidateJobStatusUpdate(j, old))
		})
	}
}

func TestFirstOverlapFindsLowestSharedIndex(t *testing.T) {
	cases := []struct {
		a, b   string
		want   int32
		exists bool
	}{
		{"0-2,7", "3-6", 0, false},
		{"0-2,7", "4,6-9", 7, true},
		{"5-9", "1,3-6", 5, true},
		{"", "1", 0, false},
		{"1,x,4", "4", 4, true},
	}
	for _, tc := range cases {
		got, ok := firstOverlap(parseValidIntervals(tc.a, 10), parseValidIntervals(tc.b, 10))
		if ok != tc.exists || got != tc.want {
			t.Errorf("firstOverlap(%q, %q) = %d, %v; want %d, %v", tc.a, tc.b, got, ok, tc.want, tc.exists)
		}
	}
}

func TestCountIndexes(t *testing.T) {
	cases := []struct {
		s       string
		want    int32
		wantErr string
	}{
		{"", 0, ""},
		{"0", 1, ""},
		{"0,2-4,9", 5, ""},
		{"3-1", 0, "non-increasing order, previous: 3, current: 1"},
		{"1-2-3", 0, "at most two parts"},
		{"10", 0, `too large index: "10"`},
		{"2,2", 0, "non-increasing order, previous: 2, current: 2"},
	}
	for _, tc := range cases {
		got, err := countIndexes(tc.s, 10)
		if tc.wantErr == "" {
			if err != nil || got != tc.want {
				t.Errorf("countIndexes(%q) = %d, %v; want %d", tc.s, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("countIndexes(%q) error = %v, want %q", tc.s, err, tc.wantErr)
		}
	}
}
