// Package cronjob runs CronJobs: at each time of its cron schedule (in spec.timeZone, else the
// controller's local time) a CronJob gets a Job made from its job template, named
// <cronjob>-<minutes since the epoch of the schedule time> so that no schedule time runs twice, as
// upstream's cronjob controller (v2) does.
//
// Only the latest missed schedule time is started, and only within startingDeadlineSeconds;
// concurrencyPolicy decides whether a new Job may run beside an active one (Allow), is skipped
// (Forbid), or replaces it (Replace). Finished Jobs beyond successfulJobsHistoryLimit and
// failedJobsHistoryLimit are deleted, oldest first. status.active, lastScheduleTime and
// lastSuccessfulTime follow the Jobs. The reconciler asks to be woken at the next schedule time; its
// clock is a field, so tests can move time.
package cronjob

import (
	"context"
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// jobControllerUIDIndex indexes Jobs by the UID of the CronJob that controls them.
const jobControllerUIDIndex = "cronjob.controllerUID"

var cronJobKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Reconciler runs CronJobs.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads straight from the API server: CronJobs, and Jobs the cache may not show yet.
	// Defaults to the manager's.
	APIReader client.Reader
	// Recorder records events as "cronjob-controller".
	Recorder record.EventRecorder
	// Now is the controller's clock (default time.Now).
	Now func() time.Time
}

// SetupWithManager adds the reconciler to mgr.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &batchv1.Job{}, jobControllerUIDIndex,
		func(obj client.Object) []string {
			ref := metav1.GetControllerOfNoCopy(obj)
			if ref == nil || ref.Kind != cronJobKind.Kind {
				return nil
			}
			return []string{string(ref.UID)}
		}); err != nil {
		return fmt.Errorf("index jobs by controlling cronjob: %w", err)
	}
	return builder.ControllerManagedBy(mgr).
		Named("cronjob").
		For(&batchv1.CronJob{}).
		Owns(&batchv1.Job{}).
		Complete(r)
}

// Reconcile starts the CronJob's Job when one is due, cleans up finished Jobs, updates the status,
// and asks to be woken at the next schedule time.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	// The CronJob is read from the API server, not the cache: its status (the active Jobs, the last
	// schedule time) is what keeps a schedule time from starting twice, and the cache can lag behind
	// this controller's own last write. Jobs come from the cache; a Job it has not seen yet is found
	// through the status.
	var cj batchv1.CronJob
	if err := r.APIReader.Get(ctx, req.NamespacedName, &cj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var list batchv1.JobList
	if err := r.Client.List(ctx, &list, client.InNamespace(cj.Namespace), client.MatchingFields{jobControllerUIDIndex: string(cj.UID)}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list jobs of cronjob %s: %w", req.NamespacedName, err)
	}
	jobs := make([]*batchv1.Job, len(list.Items))
	for i := range list.Items {
		jobs[i] = &list.Items[i]
	}

	working := cj.DeepCopy()
	cleaned := r.cleanupFinishedJobs(ctx, working, jobs)
	requeue, synced, syncErr := r.syncCronJob(ctx, working, jobs)
	if cleaned || synced {
		// A patch, not an update: the status was computed from a fresh read and only this controller
		// writes it, while a conflict with an unrelated change (a label, the spec) would lose the record
		// of a Job just created, and the schedule time would run twice.
		if err := r.Client.Status().Patch(ctx, working, client.MergeFrom(&cj)); err != nil {
			return ctrl.Result{}, fmt.Errorf("update status of cronjob %s: %w", req.NamespacedName, err)
		}
	}
	if requeue > 0 {
		return ctrl.Result{RequeueAfter: requeue}, nil
	}
	return ctrl.Result{}, syncErr
}

// syncCronJob brings status.active in line with the Jobs and starts the Job due now, if any. It
// returns when to look again (0 for not before something changes) and whether the status changed.
func (r *Reconciler) syncCronJob(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (time.Duration, bool, error) {
	now := r.Now()
	changed := false
	children := map[types.UID]bool{}
	for _, j := range jobs {
		children[j.UID] = true
		active := inActiveList(cj, j.UID)
		finished := finishedType(j)
		switch {
		case !active && finished == "":
			// Made by someone else, or by this controller just before a status write that was lost.
			r.Recorder.Eventf(cj, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", j.Name)
		case active && finished != "":
			deleteFromActiveList(cj, j.UID)
			r.Recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, status: %v", j.Name, finished)
			changed = true
		}
		if finished == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time)) {
			cj.Status.LastSuccessfulTime = j.Status.CompletionTime.DeepCopy()
			changed = true
		}
	}

	// An active Job that is gone would keep the CronJob active for ever.
	for _, ref := range slices.Clone(cj.Status.Active) {
		if children[ref.UID] {
			continue
		}
		// The cache may not have seen a Job just created: ask the API server.
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &batchv1.Job{})
		switch {
		case apierrors.IsNotFound(err):
			r.Recorder.Eventf(cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", ref.Name)
			deleteFromActiveList(cj, ref.UID)
			changed = true
		case err != nil:
			return 0, changed, fmt.Errorf("get job %s/%s: %w", ref.Namespace, ref.Name, err)
		}
	}

	if cj.DeletionTimestamp != nil {
		return 0, changed, nil
	}
	if tz := cj.Spec.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil {
			r.Recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %s", *tz, err)
			return 0, changed, nil
		}
	}
	if ptr.Deref(cj.Spec.Suspend, false) {
		return 0, changed, nil
	}
	if _, tzPrefix := scheduleSpec(cj); tzPrefix {
		r.Recorder.Eventf(cj, corev1.EventTypeWarning, "UnsupportedSchedule",
			"CRON_TZ or TZ used in schedule %q is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", cj.Spec.Schedule)
	}
	sched, err := parseSchedule(cj)
	if err != nil {
		// A user error: nothing to do until the spec changes.
		r.Recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return 0, changed, nil
	}
	nextIn := func() time.Duration {
		d, ok := nextScheduleTimeDuration(cj, now, sched)
		if !ok {
			return 0
		}
		return max(d, nextScheduleDelta)
	}

	scheduled, m, err := nextScheduleTime(cj, now, sched)
	if err != nil {
		r.Recorder.Eventf(cj, corev1.EventTypeWarning, "InvalidSchedule", "invalid schedule: %s : %s", cj.Spec.Schedule, err)
		return 0, changed, nil
	}
	if scheduled == nil {
		return nextIn(), changed, nil
	}
	if m == manyMissed {
		r.Recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes",
			"too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
		log.FromContext(ctx).Info("Too many missed start times", "schedule", cj.Spec.Schedule)
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		r.Recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return nextIn(), changed, nil
	}
	name := jobName(cj, *scheduled)
	if inActiveListByName(cj, cj.Namespace, name) || (cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(*scheduled)) {
		// Started already.
		return nextIn(), changed, nil
	}
	if cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent && len(cj.Status.Active) > 0 {
		r.Recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
		return nextIn(), changed, nil
	}
	if cj.Spec.ConcurrencyPolicy == batchv1.ReplaceConcurrent {
		for _, ref := range slices.Clone(cj.Status.Active) {
			var job batchv1.Job
			err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &job)
			switch {
			case apierrors.IsNotFound(err):
				deleteFromActiveList(cj, ref.UID)
				changed = true
				continue
			case err != nil:
				r.Recorder.Eventf(cj, corev1.EventTypeWarning, "FailedGet", "Get job: %v", err)
				return 0, changed, fmt.Errorf("get job %s/%s to replace it: %w", ref.Namespace, ref.Name, err)
			}
			if err := r.deleteJob(ctx, cj, &job); err != nil {
				return 0, changed, fmt.Errorf("replace job %s/%s: %w", job.Namespace, job.Name, err)
			}
			changed = true
		}
	}

	job, err := jobFromTemplate(cj, *scheduled)
	if err != nil {
		return 0, changed, err
	}
	err = r.Client.Create(ctx, job)
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return 0, changed, err
	case apierrors.IsAlreadyExists(err):
		// Made by an earlier sync whose status write was lost, or by someone else.
		var existing batchv1.Job
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(job), &existing); err != nil {
			return 0, changed, fmt.Errorf("get existing job %s/%s: %w", job.Namespace, job.Name, err)
		}
		if !metav1.IsControlledBy(&existing, cj) || inActiveList(cj, existing.UID) {
			return nextIn(), changed, nil
		}
		log.FromContext(ctx).Info("Job already exists", "job", job.Name)
		job = &existing
	case err != nil:
		r.Recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return 0, changed, fmt.Errorf("create job %s/%s: %w", job.Namespace, job.Name, err)
	default:
		r.Recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", job.Name)
	}
	cj.Status.Active = append(cj.Status.Active, jobRef(job))
	cj.Status.LastScheduleTime = &metav1.Time{Time: *scheduled}
	return nextIn(), true, nil
}

// cleanupFinishedJobs deletes the oldest finished Jobs beyond the history limits and reports whether
// the status changed.
func (r *Reconciler) cleanupFinishedJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) bool {
	if cj.Spec.SuccessfulJobsHistoryLimit == nil && cj.Spec.FailedJobsHistoryLimit == nil {
		return false
	}
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		switch finishedType(j) {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	changed := false
	if limit := cj.Spec.SuccessfulJobsHistoryLimit; limit != nil && r.removeOldestJobs(ctx, cj, succeeded, *limit) {
		changed = true
	}
	if limit := cj.Spec.FailedJobsHistoryLimit; limit != nil && r.removeOldestJobs(ctx, cj, failed, *limit) {
		changed = true
	}
	return changed
}

// removeOldestJobs deletes all but the keep most recently started Jobs and reports whether it deleted any.
func (r *Reconciler) removeOldestJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, keep int32) bool {
	n := len(jobs) - int(max(keep, 0))
	if n <= 0 {
		return false
	}
	jobs = slices.Clone(jobs)
	slices.SortStableFunc(jobs, compareStartTime)
	deleted := false
	for _, j := range jobs[:n] {
		if err := r.deleteJob(ctx, cj, j); err != nil {
			log.FromContext(ctx).Error(err, "Delete finished job beyond the history limit", "job", j.Name)
			continue
		}
		deleted = true
	}
	return deleted
}

// deleteJob deletes a Job with its pods and drops it from status.active.
func (r *Reconciler) deleteJob(ctx context.Context, cj *batchv1.CronJob, job *batchv1.Job) error {
	err := r.Client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) {
		r.Recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return fmt.Errorf("delete job %s/%s: %w", job.Namespace, job.Name, err)
	}
	deleteFromActiveList(cj, job.UID)
	r.Recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", job.Name)
	return nil
}

func inActiveList(cj *batchv1.CronJob, uid types.UID) bool {
	return slices.ContainsFunc(cj.Status.Active, func(ref corev1.ObjectReference) bool { return ref.UID == uid })
}

func inActiveListByName(cj *batchv1.CronJob, namespace, name string) bool {
	return slices.ContainsFunc(cj.Status.Active, func(ref corev1.ObjectReference) bool {
		return ref.Namespace == namespace && ref.Name == name
	})
}

func deleteFromActiveList(cj *batchv1.CronJob, uid types.UID) {
	cj.Status.Active = slices.DeleteFunc(cj.Status.Active, func(ref corev1.ObjectReference) bool { return ref.UID == uid })
}
