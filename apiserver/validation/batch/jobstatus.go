package batch

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// ValidateJobStatusUpdate validates a write to the status subresource of a Job. Since a Job may be
// managed by an external controller (spec.managedBy), its status transitions are checked: terminal
// conditions stick, counters do not go back, finished Jobs are consistent. Each consistency rule runs
// only when the fields it looks at changed, so a status that a spec update made temporarily
// inconsistent (completions scaled down, say) does not block unrelated status writes.
func ValidateJobStatusUpdate(job, old *batchv1.Job) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&job.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	checks := jobStatusChecksFor(job, old)
	statusPath := field.NewPath("status")
	allErrs = append(allErrs, validateJobStatus(job, statusPath, checks)...)
	allErrs = append(allErrs, validateJobStatusTransition(job, old, statusPath, checks)...)
	return allErrs
}

// jobStatusChecks says which status consistency rules apply to an update.
type jobStatusChecks struct {
	decreasingSucceeded              bool
	invalidCompletedIndexes          bool
	invalidFailedIndexes             bool
	completedIndexesForNonIndexed    bool
	failedIndexesWithoutPerIndex     bool
	failedOverlapsCompleted          bool
	finishedWithActivePods           bool
	finishedWithoutStartTime         bool
	finishedWithUncountedPods        bool
	completionTimeBeforeStartTime    bool
	notCompleteWithCompletionTime    bool
	completeWithoutCompletionTime    bool
	completeWithFailed               bool
	completeWithFailureTarget        bool
	startTimeChangeForUnsuspendedJob bool
}

func jobStatusChecksFor(job, old *batchv1.Job) jobStatusChecks {
	s, o := &job.Status, &old.Status
	indexed := ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
	finishedChanged := isJobFinished(old) != isJobFinished(job)
	completeChanged := isConditionTrue(o.Conditions, batchv1.JobComplete) != isConditionTrue(s.Conditions, batchv1.JobComplete)
	failedChanged := isConditionTrue(o.Conditions, batchv1.JobFailed) != isConditionTrue(s.Conditions, batchv1.JobFailed)
	failureTargetChanged := isConditionTrue(o.Conditions, batchv1.JobFailureTarget) != isConditionTrue(s.Conditions, batchv1.JobFailureTarget)
	completedIndexesChanged := o.CompletedIndexes != s.CompletedIndexes
	failedIndexesChanged := !ptr.Equal(o.FailedIndexes, s.FailedIndexes)
	startTimeChanged := !timeEqual(o.StartTime, s.StartTime)
	completionTimeChanged := !timeEqual(o.CompletionTime, s.CompletionTime)
	uncountedChanged := !apiequality.Semantic.DeepEqual(o.UncountedTerminatedPods, s.UncountedTerminatedPods)
	return jobStatusChecks{
		// Indexed Jobs with completions equal to parallelism can be scaled down, losing successes.
		decreasingSucceeded:              !indexed || !ptr.Equal(job.Spec.Completions, job.Spec.Parallelism),
		invalidCompletedIndexes:          completedIndexesChanged,
		invalidFailedIndexes:             failedIndexesChanged,
		completedIndexesForNonIndexed:    completedIndexesChanged,
		failedIndexesWithoutPerIndex:     failedIndexesChanged,
		failedOverlapsCompleted:          failedIndexesChanged || completedIndexesChanged,
		finishedWithActivePods:           finishedChanged || o.Active != s.Active,
		finishedWithoutStartTime:         finishedChanged || startTimeChanged,
		finishedWithUncountedPods:        finishedChanged || uncountedChanged,
		completionTimeBeforeStartTime:    startTimeChanged || completionTimeChanged,
		notCompleteWithCompletionTime:    completeChanged || completionTimeChanged,
		completeWithoutCompletionTime:    completeChanged || completionTimeChanged,
		completeWithFailed:               completeChanged || failedChanged,
		completeWithFailureTarget:        completeChanged || failureTargetChanged,
		startTimeChangeForUnsuspendedJob: startTimeChanged,
	}
}

func validateJobStatus(job *batchv1.Job, fldPath *field.Path, checks jobStatusChecks) field.ErrorList {
	status := &job.Status
	allErrs := apivalidation.ValidateNonnegativeField(int64(status.Active), fldPath.Child("active"))
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(status.Succeeded), fldPath.Child("succeeded"))...)
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(status.Failed), fldPath.Child("failed"))...)
	if status.Ready != nil {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(*status.Ready), fldPath.Child("ready"))...)
	}
	if status.Terminating != nil {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(*status.Terminating), fldPath.Child("terminating"))...)
	}
	if u := status.UncountedTerminatedPods; u != nil {
		uncountedPath := fldPath.Child("uncountedTerminatedPods")
		seen := make(map[types.UID]bool)
		for _, list := range []struct {
			name string
			uids []types.UID
		}{{"succeeded", u.Succeeded}, {"failed", u.Failed}} {
			for i, uid := range list.uids {
				p := uncountedPath.Child(list.name).Index(i)
				switch {
				case uid == "":
					allErrs = append(allErrs, field.Invalid(p, uid, "must not be empty"))
				case seen[uid]:
					allErrs = append(allErrs, field.Duplicate(p, uid))
				default:
					seen[uid] = true
				}
			}
		}
	}

	complete := isConditionTrue(status.Conditions, batchv1.JobComplete)
	failed := isConditionTrue(status.Conditions, batchv1.JobFailed)
	failureTarget := isConditionTrue(status.Conditions, batchv1.JobFailureTarget)
	successCriteriaMet := isConditionTrue(status.Conditions, batchv1.JobSuccessCriteriaMet)
	finished := complete || failed
	conditionsPath := fldPath.Child("conditions")

	if checks.completeWithFailed && complete && failed {
		allErrs = append(allErrs, field.Invalid(conditionsPath, field.OmitValueType{}, "cannot set Complete=True and Failed=true conditions"))
	}
	if checks.completeWithFailureTarget && complete && failureTarget {
		allErrs = append(allErrs, field.Invalid(conditionsPath, field.OmitValueType{}, "cannot set Complete=True and FailureTarget=true conditions"))
	}
	if checks.notCompleteWithCompletionTime && status.CompletionTime != nil && !complete {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("completionTime"), status.CompletionTime, "cannot set completionTime when there is no Complete=True condition"))
	}
	if checks.completeWithoutCompletionTime && status.CompletionTime == nil && complete {
		allErrs = append(allErrs, field.Required(fldPath.Child("completionTime"), "completionTime is required for Complete jobs"))
	}
	if checks.completionTimeBeforeStartTime && status.StartTime != nil && status.CompletionTime != nil && status.CompletionTime.Before(status.StartTime) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("completionTime"), status.CompletionTime, "completionTime cannot be set before startTime"))
	}
	if checks.finishedWithActivePods && status.Active > 0 && finished {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("active"), status.Active, "active>0 is invalid for finished job"))
	}
	if checks.finishedWithoutStartTime && status.StartTime == nil && finished {
		allErrs = append(allErrs, field.Required(fldPath.Child("startTime"), "startTime is required for finished job"))
	}
	if u := status.UncountedTerminatedPods; checks.finishedWithUncountedPods && finished && u != nil && len(u.Failed)+len(u.Succeeded) > 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("uncountedTerminatedPods"), u, "uncountedTerminatedPods needs to be empty for finished job"))
	}

	completions := job.Spec.Completions
	if checks.invalidCompletedIndexes && completions != nil {
		if _, err := countIndexes(status.CompletedIndexes, *completions); err != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("completedIndexes"), status.CompletedIndexes, fmt.Sprintf("error parsing completedIndexes: %s", err)))
		}
	}
	if checks.invalidFailedIndexes && completions != nil && job.Spec.BackoffLimitPerIndex != nil && status.FailedIndexes != nil {
		if _, err := countIndexes(*status.FailedIndexes, *completions); err != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("failedIndexes"), *status.FailedIndexes, fmt.Sprintf("error parsing failedIndexes: %s", err)))
		}
	}
	indexed := ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
	if checks.completedIndexesForNonIndexed && status.CompletedIndexes != "" && !indexed {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("completedIndexes"), status.CompletedIndexes, "cannot set non-empty completedIndexes when non-indexed completion mode"))
	}
	// Non-indexed Jobs never have backoffLimitPerIndex, so this also keeps failedIndexes off them.
	if checks.failedIndexesWithoutPerIndex && job.Spec.BackoffLimitPerIndex == nil && status.FailedIndexes != nil {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("failedIndexes"), *status.FailedIndexes, "cannot set non-null failedIndexes when backoffLimitPerIndex is null"))
	}
	if checks.failedOverlapsCompleted && completions != nil && status.FailedIndexes != nil {
		completed := parseValidIntervals(status.CompletedIndexes, *completions)
		failedIdx := parseValidIntervals(*status.FailedIndexes, *completions)
		if at, overlap := firstOverlap(completed, failedIdx); overlap {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("failedIndexes"), *status.FailedIndexes, fmt.Sprintf("failedIndexes and completedIndexes overlap at index: %d", at)))
		}
	}

	// SuccessCriteriaMet is allowed on NonIndexed Jobs and Jobs without a successPolicy too: the Job
	// controller records it before Complete for every Job (upstream's extended scope, 1.33+).
	if successCriteriaMet && failed {
		allErrs = append(allErrs, field.Invalid(conditionsPath, field.OmitValueType{}, "cannot set SuccessCriteriaMet=True and Failed=true conditions"))
	}
	if successCriteriaMet && failureTarget {
		allErrs = append(allErrs, field.Invalid(conditionsPath, field.OmitValueType{}, "cannot set SuccessCriteriaMet=True and FailureTarget=true conditions"))
	}
	if job.Spec.SuccessPolicy != nil && !successCriteriaMet && complete {
		allErrs = append(allErrs, field.Invalid(conditionsPath, field.OmitValueType{}, "cannot set Complete=True for Job with SuccessPolicy unless SuccessCriteriaMet=True"))
	}
	return allErrs
}

// validateJobStatusTransition checks the rules that compare the new status with the old one.
func validateJobStatusTransition(job, old *batchv1.Job, fldPath *field.Path, checks jobStatusChecks) field.ErrorList {
	var allErrs field.ErrorList
	s, o := &job.Status, &old.Status
	conditionsPath := fldPath.Child("conditions")
	for _, t := range []batchv1.JobConditionType{batchv1.JobFailed, batchv1.JobComplete, batchv1.JobFailureTarget} {
		if isConditionTrue(o.Conditions, t) && !isConditionTrue(s.Conditions, t) {
			allErrs = append(allErrs, field.Invalid(conditionsPath, field.OmitValueType{}, fmt.Sprintf("cannot disable the terminal %s=True condition", t)))
		}
	}
	if s.Failed < o.Failed {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("failed"), s.Failed, "cannot decrease the failed counter"))
	}
	if checks.decreasingSucceeded && s.Succeeded < o.Succeeded {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("succeeded"), s.Succeeded, "cannot decrease the succeeded counter"))
	}
	// Clearing completionTime is left to the Complete-condition rules above.
	if s.CompletionTime != nil && o.CompletionTime != nil && !timeEqual(s.CompletionTime, o.CompletionTime) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("completionTime"), s.CompletionTime, "completionTime cannot be mutated"))
	}
	// startTime may be set, and reset on resume; it may only be removed while the Job is suspended.
	if checks.startTimeChangeForUnsuspendedJob && o.StartTime != nil && s.StartTime == nil && !ptr.Deref(job.Spec.Suspend, false) {
		allErrs = append(allErrs, field.Required(fldPath.Child("startTime"), "startTime cannot be removed for unsuspended job"))
	}
	oldMet := isConditionTrue(o.Conditions, batchv1.JobSuccessCriteriaMet)
	newMet := isConditionTrue(s.Conditions, batchv1.JobSuccessCriteriaMet)
	if oldMet && !newMet {
		allErrs = append(allErrs, field.Invalid(conditionsPath, field.OmitValueType{}, "cannot disable the SuccessCriteriaMet=True condition"))
	}
	if isConditionTrue(o.Conditions, batchv1.JobComplete) && !oldMet && newMet {
		allErrs = append(allErrs, field.Invalid(conditionsPath, field.OmitValueType{}, "cannot set SuccessCriteriaMet=True for Job already has Complete=true conditions"))
	}
	return allErrs
}

func isConditionTrue(conditions []batchv1.JobCondition, t batchv1.JobConditionType) bool {
	for _, c := range conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func isJobFinished(job *batchv1.Job) bool {
	return isConditionTrue(job.Status.Conditions, batchv1.JobComplete) || isConditionTrue(job.Status.Conditions, batchv1.JobFailed)
}

// timeEqual compares optional timestamps; a nil and a set time differ.
func timeEqual(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}
