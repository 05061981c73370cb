// Package ttlafterfinished cleans up finished Jobs: a Job with spec.ttlSecondsAfterFinished is deleted,
// with its pods (background propagation), that many seconds after it got its Complete or Failed
// condition, as upstream's ttl-after-finished controller does.
package ttlafterfinished

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// Reconciler deletes finished Jobs whose time to live has run out.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads straight from the API server: the Job is read again before it is deleted, as
	// its TTL may have just changed. Defaults to the manager's.
	APIReader client.Reader
	// Now is the controller's clock (default time.Now).
	Now func() time.Time
}

// SetupWithManager adds the reconciler to mgr; it looks only at Jobs that have a TTL.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return builder.ControllerManagedBy(mgr).
		Named("ttlafterfinished").
		For(&batchv1.Job{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(obj client.Object) bool {
			job, ok := obj.(*batchv1.Job)
			return ok && job.Spec.TTLSecondsAfterFinished != nil
		}))).
		Complete(r)
}

// Reconcile deletes the Job if it finished more than its TTL ago, or comes back when it will have.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var job batchv1.Job
	if err := r.Client.Get(ctx, req.NamespacedName, &job); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	left, expired, err := timeLeft(&job, r.Now())
	if err != nil || !expired {
		return ctrl.Result{RequeueAfter: left}, err
	}
	// The cached Job may be stale: a TTL just made longer or removed must be honoured.
	var fresh batchv1.Job
	if err := r.APIReader.Get(ctx, req.NamespacedName, &fresh); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	left, expired, err = timeLeft(&fresh, r.Now())
	if err != nil || !expired {
		return ctrl.Result{RequeueAfter: left}, err
	}
	log.FromContext(ctx).V(1).Info("Deleting Job whose TTL after finishing expired")
	err = r.Client.Delete(ctx, &fresh,
		client.PropagationPolicy(metav1.DeletePropagationBackground),
		client.Preconditions{UID: &fresh.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("delete job %s after its TTL: %w", req.NamespacedName, err)
	}
	return ctrl.Result{}, nil
}

// timeLeft tells how long a Job has before its TTL after finishing expires: expired is true when it
// has; left is positive while the Job waits for it, and 0 when there is nothing to wait for (no TTL,
// not finished, already being deleted).
func timeLeft(job *batchv1.Job, now time.Time) (left time.Duration, expired bool, err error) {
	if job.DeletionTimestamp != nil || job.Spec.TTLSecondsAfterFinished == nil {
		return 0, false, nil
	}
	finishedAt, finished := finishTime(job)
	if !finished {
		return 0, false, nil
	}
	if finishedAt.IsZero() {
		return 0, false, fmt.Errorf("job %s/%s is finished but its condition has no transition time", job.Namespace, job.Name)
	}
	left = finishedAt.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second).Sub(now)
	if left <= 0 {
		return 0, true, nil
	}
	return left, false, nil
}

// finishTime returns when the Job got its Complete or Failed condition, and whether it has one.
func finishTime(job *batchv1.Job) (time.Time, bool) {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}
