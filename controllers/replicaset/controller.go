// Package replicaset keeps a stable set of replica pods running for each ReplicaSet, as upstream's
// replicaset controller does.
//
// A ReplicaSet owns the pods its selector matches: it adopts matching orphans (writing itself as their
// controller in their ownerReferences), releases the pods it controls that no longer match, and ignores
// pods another controller owns. It then creates pods from its template, or deletes the pods that matter
// least (unscheduled, pending, not ready, cheapest, doubled up on a node, newest ...), until as many
// active pods as spec.replicas remain. Creations go in slow-start batches of 1, 2, 4, ... so that a
// template that cannot be created costs one request, and at most 500 pods change in one sync.
// Expectations remember what a sync asked for until the cache shows it, so a cache that lags never
// causes a second creation or deletion. The status counts the replicas, the fully labeled, ready and
// available (ready for minReadySeconds) ones and the terminating ones, and a ReplicaFailure condition
// tells why pods could not be created or deleted.
//
// The same code runs ReplicationControllers (package replicationcontroller) through a Syncer of their
// kind, as upstream runs them through its replica set code.
package replicaset

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// PodIndex is the name of the field index of pods by their controller's UID.
const PodIndex = "replicaset.controllerUID"

// DefaultMaxConcurrentReconciles is how many ReplicaSets sync at once, as upstream's
// --concurrent-replicaset-syncs.
const DefaultMaxConcurrentReconciles = 5

// Reconciler keeps the pods of each ReplicaSet matching its spec and reports them in its status.
type Reconciler struct {
	// Client reads through the manager's cache and writes to the API.
	Client client.Client
	// APIReader reads around the cache (a ReplicaSet is read fresh before it adopts pods); nil means
	// the manager's.
	APIReader client.Reader
	// Recorder records events on ReplicaSets, as "replicaset-controller".
	Recorder record.EventRecorder
	// BurstReplicas is the most pods one sync creates or deletes (default 500).
	BurstReplicas int
	// MaxConcurrentReconciles is how many ReplicaSets sync at once (default 5).
	MaxConcurrentReconciles int

	syncer *Syncer
}

// SetupWithManager adds the reconciler to mgr: it watches ReplicaSets and pods.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if err := IndexPodsByController(context.Background(), mgr.GetFieldIndexer(), PodIndex); err != nil {
		return fmt.Errorf("index pods by controller: %w", err)
	}
	r.syncer = NewSyncer(SyncerOptions{
		Client: r.Client, APIReader: r.APIReader, Recorder: r.Recorder,
		Kind: appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), PodIndex: PodIndex,
		BurstReplicas: r.BurstReplicas, RelatedPods: r.relatedPods,
	})
	return builder.ControllerManagedBy(mgr).
		For(&appsv1.ReplicaSet{}).
		Watches(&corev1.Pod{}, r.syncer.PodHandler(r.replicaSetsMatching)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// Reconcile syncs the pods and the status of one ReplicaSet.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rs := &appsv1.ReplicaSet{}
	if err := r.Client.Get(ctx, req.NamespacedName, rs); err != nil {
		if apierrors.IsNotFound(err) {
			r.syncer.Forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	status, after, syncErr := r.syncer.Sync(ctx, rs, rs)
	if !statusEqual(rs.Status, status) {
		rs.Status = status
		if err := r.Client.Status().Update(ctx, rs); err != nil {
			if apierrors.IsConflict(err) && syncErr == nil {
				// The cache is behind a newer version, whose event brings the next sync.
				return ctrl.Result{}, nil
			}
			return ctrl.Result{}, errors.Join(syncErr, fmt.Errorf("update status: %w", err))
		}
	}
	if syncErr != nil {
		return ctrl.Result{}, syncErr
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

// replicaSetsMatching are the ReplicaSets whose selector matches an orphan pod.
func (r *Reconciler) replicaSetsMatching(ctx context.Context, pod *corev1.Pod) []reconcile.Request {
	var list appsv1.ReplicaSetList
	if err := r.Client.List(ctx, &list, client.InNamespace(pod.Namespace)); err != nil {
		log.FromContext(ctx).Error(err, "List ReplicaSets for an orphan pod", "pod", pod.Name)
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		rs := &list.Items[i]
		selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || selector.Empty() || !selector.Matches(labels.Set(pod.Labels)) {
			continue
		}
		reqs = append(reqs, request(rs.Namespace, rs.Name))
	}
	return reqs
}

// relatedPods are the pods of the ReplicaSets that share owner's controller (a Deployment's ReplicaSets),
// as upstream's getIndirectlyRelatedPods; a ReplicaSet without a controller has none.
func (r *Reconciler) relatedPods(ctx context.Context, owner client.Object) ([]*corev1.Pod, error) {
	ref := metav1.GetControllerOfNoCopy(owner)
	if ref == nil {
		return nil, nil
	}
	var sets appsv1.ReplicaSetList
	if err := r.Client.List(ctx, &sets, client.InNamespace(owner.GetNamespace())); err != nil {
		return nil, err
	}
	var pods []*corev1.Pod
	for i := range sets.Items {
		if sibling := metav1.GetControllerOfNoCopy(&sets.Items[i]); sibling == nil || sibling.UID != ref.UID {
			continue
		}
		var list corev1.PodList
		if err := r.Client.List(ctx, &list, client.InNamespace(owner.GetNamespace()),
			client.MatchingFields{PodIndex: string(sets.Items[i].UID)}); err != nil {
			return nil, err
		}
		for j := range list.Items {
			pods = append(pods, &list.Items[j])
		}
	}
	return pods, nil
}
