// Package job runs Jobs: it creates the pods of a Job from its template until enough of them succeed
// (spec.completions, at most spec.parallelism at a time), replaces failed ones after an exponential
// backoff until spec.backoffLimit is exceeded, and records the outcome in the Job's status and
// conditions, as upstream's job controller does.
//
// Every pod of a Job carries the finalizer batch.kubernetes.io/job-tracking. A finished pod is first
// listed in status.uncountedTerminatedPods, then its finalizer is removed, then it is moved into the
// succeeded or failed counters; so no pod is counted twice or lost, even if the pod is deleted at once
// or the controller restarts between steps. Indexed Jobs give each pod a completion index (annotation
// and label batch.kubernetes.io/job-completion-index, JOB_COMPLETION_INDEX, hostname <job>-<index>) and
// record indexes rather than pods (status.completedIndexes, status.failedIndexes).
//
// A Job that has reached its outcome gets an interim condition first (FailureTarget, or
// SuccessCriteriaMet), its remaining pods are deleted, and only once none is left does it get its
// terminal condition, Failed or Complete. Pod failure policies (FailJob, Ignore, Count, FailIndex),
// success policies, per-index backoff limits, activeDeadlineSeconds, suspension and
// podReplacementPolicy follow upstream.
package job

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

const (
	// podControllerUIDIndex indexes pods by the UID of the Job that controls them.
	podControllerUIDIndex = "job.controllerUID"

	// DefaultPodFailureBackoff is the delay before a failed pod is replaced after a first failure.
	DefaultPodFailureBackoff = 10 * time.Second
	// DefaultMaxPodFailureBackoff caps the delay, which doubles with each consecutive failure.
	DefaultMaxPodFailureBackoff = 6 * time.Minute

	// maxUncountedPods bounds status.uncountedTerminatedPods (about 20 KB of UIDs) and so the work of a sync.
	maxUncountedPods = 500
	// maxPodCreateDeletePerSync bounds the pods created or deleted in one sync.
	maxPodCreateDeletePerSync = 500
	// conflictRetryDelay is when a sync that lost a write race looks again.
	conflictRetryDelay = time.Second
)

// Reconciler runs Jobs.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads straight from the API server, to confirm what the cache says before adopting
	// pods or releasing their finalizers. Defaults to the manager's.
	APIReader client.Reader
	// Recorder records events as "job-controller".
	Recorder record.EventRecorder
	// PodFailureBackoff is the delay before pods are created again after a pod failed (default 10s);
	// it doubles with each further failure since the last success, up to MaxPodFailureBackoff (default 6m).
	PodFailureBackoff    time.Duration
	MaxPodFailureBackoff time.Duration
	// Now is the controller's clock (default time.Now).
	Now func() time.Time

	expectations *expectations
}

// SetupWithManager adds the Job controller, and the controller that releases the tracking finalizer of
// pods no Job will count, to mgr.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.PodFailureBackoff <= 0 {
		r.PodFailureBackoff = DefaultPodFailureBackoff
	}
	if r.MaxPodFailureBackoff <= 0 {
		r.MaxPodFailureBackoff = DefaultMaxPodFailureBackoff
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	r.expectations = newExpectations(r.Now)

	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, podControllerUIDIndex,
		func(obj client.Object) []string {
			if ref := jobControllerOf(obj); ref != nil {
				return []string{string(ref.UID)}
			}
			return nil
		}); err != nil {
		return fmt.Errorf("index pods by controlling job: %w", err)
	}

	if err := builder.ControllerManagedBy(mgr).
		Named("job").
		For(&batchv1.Job{}).
		Watches(&corev1.Pod{}, r.podEventHandler()).
		Complete(r); err != nil {
		return err
	}
	return builder.ControllerManagedBy(mgr).
		Named("job-orphanpod").
		For(&corev1.Pod{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(obj client.Object) bool {
			pod, ok := obj.(*corev1.Pod)
			return ok && hasTrackingFinalizer(pod)
		}))).
		Watches(&batchv1.Job{}, r.finishedJobHandler()).
		Complete(reconcile.Func(r.reconcileOrphanPod))
}

func (r *Reconciler) backoff() backoff {
	return backoff{base: r.PodFailureBackoff, limit: r.MaxPodFailureBackoff}
}

// Reconcile brings the pods and status of one Job in line with its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var job batchv1.Job
	if err := r.Client.Get(ctx, req.NamespacedName, &job); err != nil {
		if apierrors.IsNotFound(err) {
			r.expectations.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get job %s: %w", req.NamespacedName, err)
	}
	if managedByOther(&job) || isFinished(&job) {
		return ctrl.Result{}, nil
	}
	if mode := ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion); mode != batchv1.NonIndexedCompletion && mode != batchv1.IndexedCompletion {
		r.Recorder.Event(&job, corev1.EventTypeWarning, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
		return ctrl.Result{}, nil
	}
	// Expectations are read before the pods, so that a pod arriving in between only delays the sync.
	satisfied := r.expectations.satisfied(req.NamespacedName, job.UID)
	pods, err := r.podsForJob(ctx, &job)
	if err != nil {
		return ctrl.Result{}, err
	}
	requeue, err := r.sync(ctx, &job, pods, satisfied)
	if apierrors.IsConflict(err) {
		// The cache had not caught up with a write, often the controller's own: the newer Job is on its
		// way and its event will bring the Job back; the delay only guards against missing it.
		log.FromContext(ctx).V(1).Info("Job changed while being synced; syncing again", "reason", err.Error())
		return ctrl.Result{RequeueAfter: conflictRetryDelay}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if !satisfied {
		// The observation normally comes with a pod event; if it never does, look again once it times out.
		requeue = minPositive(requeue, r.expectations.pendingFor(req.NamespacedName, job.UID))
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// managedByOther reports whether spec.managedBy hands the Job to another controller.
func managedByOther(job *batchv1.Job) bool {
	return job.Spec.ManagedBy != nil && *job.Spec.ManagedBy != batchv1.JobControllerName
}

// jobControllerOf returns the controller reference of obj if it is a batch Job.
func jobControllerOf(obj metav1.Object) *metav1.OwnerReference {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil || ref.Kind != jobKind.Kind {
		return nil
	}
	if gv, err := schema.ParseGroupVersion(ref.APIVersion); err != nil || gv.Group != jobKind.Group {
		return nil
	}
	return ref
}

// podEventHandler wakes the Job a pod belongs to, or the Jobs that may adopt an orphan, and records
// the pod creations, deletions and finalizer removals the Job's expectations wait for.
func (r *Reconciler) podEventHandler() handler.EventHandler {
	enqueue := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], key types.NamespacedName) {
		q.Add(reconcile.Request{NamespacedName: key})
	}
	keyOf := func(pod *corev1.Pod, ref *metav1.OwnerReference) types.NamespacedName {
		return types.NamespacedName{Namespace: pod.Namespace, Name: ref.Name}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			pod, ok := e.Object.(*corev1.Pod)
			if !ok {
				return
			}
			ref := jobControllerOf(pod)
			if ref == nil {
				r.enqueueAdopters(ctx, pod, q)
				return
			}
			key := keyOf(pod, ref)
			if pod.DeletionTimestamp != nil {
				// Seen only once already being deleted (after a restart): not a creation to count.
				r.expectations.deletionObserved(key, ref.UID)
			} else {
				r.expectations.creationObserved(key, ref.UID)
			}
			enqueue(q, key)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			oldPod, ok1 := e.ObjectOld.(*corev1.Pod)
			pod, ok2 := e.ObjectNew.(*corev1.Pod)
			if !ok1 || !ok2 || oldPod.ResourceVersion == pod.ResourceVersion {
				return
			}
			oldRef, ref := jobControllerOf(oldPod), jobControllerOf(pod)
			finalizerGone := !hasTrackingFinalizer(pod)
			if oldRef != nil && (ref == nil || oldRef.UID != ref.UID) {
				key := keyOf(oldPod, oldRef)
				if finalizerGone {
					r.expectations.finalizerRemovalObserved(key, oldRef.UID, string(pod.UID))
				}
				enqueue(q, key)
			}
			if ref == nil {
				if !labels.Equals(oldPod.Labels, pod.Labels) || oldRef != nil {
					r.enqueueAdopters(ctx, pod, q)
				}
				return
			}
			key := keyOf(pod, ref)
			if pod.DeletionTimestamp != nil && oldPod.DeletionTimestamp == nil {
				r.expectations.deletionObserved(key, ref.UID)
			}
			if finalizerGone {
				r.expectations.finalizerRemovalObserved(key, ref.UID, string(pod.UID))
			}
			enqueue(q, key)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			pod, ok := e.Object.(*corev1.Pod)
			if !ok {
				return
			}
			ref := jobControllerOf(pod)
			if ref == nil {
				return
			}
			key := keyOf(pod, ref)
			if pod.DeletionTimestamp == nil {
				r.expectations.deletionObserved(key, ref.UID)
			}
			r.expectations.finalizerRemovalObserved(key, ref.UID, string(pod.UID))
			enqueue(q, key)
		},
	}
}

// enqueueAdopters wakes the Jobs of the pod's namespace whose selector matches an orphan pod.
func (r *Reconciler) enqueueAdopters(ctx context.Context, pod *corev1.Pod, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	var jobs batchv1.JobList
	if err := r.Client.List(ctx, &jobs, client.InNamespace(pod.Namespace)); err != nil {
		log.FromContext(ctx).Error(err, "list jobs that may adopt a pod", "pod", client.ObjectKeyFromObject(pod))
		return
	}
	for i := range jobs.Items {
		job := &jobs.Items[i]
		selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
		if err != nil || selector.Empty() || !selector.Matches(labels.Set(pod.Labels)) {
			continue
		}
		q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(job)})
	}
}

// finishedJobHandler wakes the pods still carrying the tracking finalizer of a Job that finished or
// went away, for reconcileOrphanPod to release them.
func (r *Reconciler) finishedJobHandler() handler.EventHandler {
	enqueuePods := func(ctx context.Context, job *batchv1.Job, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		var pods corev1.PodList
		if err := r.Client.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingFields{podControllerUIDIndex: string(job.UID)}); err != nil {
			log.FromContext(ctx).Error(err, "list pods of a finished job", "job", client.ObjectKeyFromObject(job))
			return
		}
		for i := range pods.Items {
			if hasTrackingFinalizer(&pods.Items[i]) {
				q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&pods.Items[i])})
			}
		}
	}
	return handler.Funcs{
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if job, ok := e.ObjectNew.(*batchv1.Job); ok && isFinished(job) {
				enqueuePods(ctx, job, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if job, ok := e.Object.(*batchv1.Job); ok {
				enqueuePods(ctx, job, q)
			}
		},
	}
}

// reconcileOrphanPod removes the tracking finalizer from a pod that no running Job will count: one
// without a controlling Job, or whose Job is gone or finished. Without it the pod could never be deleted.
func (r *Reconciler) reconcileOrphanPod(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var pod corev1.Pod
	if err := r.Client.Get(ctx, req.NamespacedName, &pod); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !hasTrackingFinalizer(&pod) {
		return reconcile.Result{}, nil
	}
	if ref := metav1.GetControllerOfNoCopy(&pod); ref != nil {
		if jobControllerOf(&pod) == nil {
			// Controlled by something other than a Job: its finalizers are not ours to touch.
			return reconcile.Result{}, nil
		}
		running, err := r.jobStillCounts(ctx, pod.Namespace, ref)
		if err != nil || running {
			return reconcile.Result{}, err
		}
	}
	if err := removeTrackingFinalizer(ctx, r.Client, &pod); err != nil {
		return reconcile.Result{}, fmt.Errorf("release finalizer of orphan pod %s: %w", req.NamespacedName, err)
	}
	return reconcile.Result{}, nil
}

// jobStillCounts reports whether the Job a pod refers to exists, is not finished, and is run by this
// controller. The cache answers first; a miss is confirmed with the API server, as the cache may not
// have seen a new Job yet.
func (r *Reconciler) jobStillCounts(ctx context.Context, namespace string, ref *metav1.OwnerReference) (bool, error) {
	key := types.NamespacedName{Namespace: namespace, Name: ref.Name}
	var job batchv1.Job
	err := r.Client.Get(ctx, key, &job)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, &job)
	}
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("get job %s: %w", key, err)
	}
	if job.UID != ref.UID {
		return false, nil
	}
	if managedByOther(&job) {
		// The other controller owns its pods' finalizers.
		return true, nil
	}
	return !isFinished(&job), nil
}

func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}
