// Package deployment rolls Deployments out through ReplicaSets, as upstream's deployment controller
// does.
//
// A Deployment owns ReplicaSets, one per pod template it has had, each named after the Deployment and
// the hash of its template ("web-5d78c9b6f4"), with that pod-template-hash in its selector and template
// so that the sets never share pods. The ReplicaSet whose template is the Deployment's is the new one;
// all others are old. A rollout moves pods from the old to the new:
//
//   - RollingUpdate scales the new ReplicaSet up while the total stays within replicas plus maxSurge, and
//     the old ones down (those with unavailable pods first, then the oldest) while the available pods
//     stay at least replicas less maxUnavailable;
//   - Recreate scales the old ones to zero, waits until their pods are gone, then scales the new one up.
//
// Changing only the replicas of a Deployment scales its ReplicaSets in proportion to their sizes, and
// a paused Deployment scales but does not roll. Revisions number the ReplicaSets
// (deployment.kubernetes.io/revision): the new ReplicaSet gets the next one, even when it is an old one
// brought back (kubectl rollout undo applies an old template; the ReplicaSet keeps its name and records
// its former revisions in deployment.kubernetes.io/revision-history). Old ReplicaSets scaled to nothing
// beyond revisionHistoryLimit are deleted. The status counts the pods of all ReplicaSets and tells, in
// its conditions, whether enough are Available and whether the rollout is Progressing, complete, or
// stuck past progressDeadlineSeconds; `kubectl rollout status` reads them.
package deployment

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ReplicaSetIndex is the name of the field index of ReplicaSets by their controller's UID.
const ReplicaSetIndex = "deployment.controllerUID"

// DefaultMaxConcurrentReconciles is how many Deployments sync at once, as upstream's
// --concurrent-deployment-syncs.
const DefaultMaxConcurrentReconciles = 5

// noController is the index value of ReplicaSets that have no controller.
const noController = "-"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Reconciler rolls each Deployment out through its ReplicaSets and reports the rollout in its status.
type Reconciler struct {
	// Client reads through the manager's cache and writes to the API.
	Client client.Client
	// APIReader reads around the cache (a Deployment is read fresh before it adopts ReplicaSets); nil
	// means the manager's.
	APIReader client.Reader
	// Recorder records events on Deployments, as "deployment-controller".
	Recorder record.EventRecorder
	// MaxConcurrentReconciles is how many Deployments sync at once (default 5).
	MaxConcurrentReconciles int
}

// SetupWithManager adds the reconciler to mgr: it watches Deployments, ReplicaSets, and the deletion of
// pods (which a Recreate rollout waits for).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &appsv1.ReplicaSet{}, ReplicaSetIndex,
		func(obj client.Object) []string {
			if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
				return []string{string(ref.UID)}
			}
			return []string{noController}
		})
	if err != nil {
		return fmt.Errorf("index replica sets by controller: %w", err)
	}
	return builder.ControllerManagedBy(mgr).
		For(&appsv1.Deployment{}).
		Watches(&appsv1.ReplicaSet{}, handler.EnqueueRequestsFromMapFunc(r.deploymentsOfReplicaSet)).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.recreateDeploymentOfPod),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc:  func(event.CreateEvent) bool { return false },
				UpdateFunc:  func(event.UpdateEvent) bool { return false },
				DeleteFunc:  func(event.DeleteEvent) bool { return true },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// Reconcile syncs one Deployment: its ReplicaSets, its rollout, and its status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	d := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, req.NamespacedName, d); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := &deploymentSync{r: r, d: d, now: time.Now()}
	if err := s.run(ctx); err != nil {
		if apierrors.IsConflict(err) {
			// A write met a newer version than the cache showed; its event brings the next sync.
			log.FromContext(ctx).V(1).Info("Sync ran into a newer version", "error", err.Error())
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if after, ok := progressCheckAfter(s.d, time.Now()); ok {
		return ctrl.Result{RequeueAfter: after}, nil
	}
	return ctrl.Result{}, nil
}

// deploymentsOfReplicaSet maps a ReplicaSet to its controlling Deployment, or, for an orphan, to the
// Deployments whose selector matches its labels and which may adopt it.
func (r *Reconciler) deploymentsOfReplicaSet(ctx context.Context, obj client.Object) []reconcile.Request {
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
		if isDeploymentRef(ref) {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: ref.Name}}}
		}
		return nil
	}
	var list appsv1.DeploymentList
	if err := r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "List Deployments for an orphan ReplicaSet", "replicaSet", obj.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		selector, err := metav1.LabelSelectorAsSelector(list.Items[i].Spec.Selector)
		if err != nil || selector.Empty() || !selector.Matches(labels.Set(obj.GetLabels())) {
			continue
		}
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// recreateDeploymentOfPod maps a deleted pod to the Recreate Deployment whose ReplicaSet controlled it:
// that Deployment may be waiting for its old pods to go.
func (r *Reconciler) recreateDeploymentOfPod(ctx context.Context, obj client.Object) []reconcile.Request {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return nil
	}
	rs := &appsv1.ReplicaSet{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: obj.GetNamespace(), Name: ref.Name}, rs); err != nil || rs.UID != ref.UID {
		return nil
	}
	dref := metav1.GetControllerOfNoCopy(rs)
	if dref == nil || !isDeploymentRef(dref) {
		return nil
	}
	key := types.NamespacedName{Namespace: rs.Namespace, Name: dref.Name}
	d := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, key, d); err != nil || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		return nil
	}
	return []reconcile.Request{{NamespacedName: key}}
}

func isDeploymentRef(ref *metav1.OwnerReference) bool {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == controllerKind.Group && ref.Kind == controllerKind.Kind
}

// claimReplicaSets returns the ReplicaSets d keeps: those it controls whose labels its selector still
// matches, and the matching orphans, which it adopts. It releases those it controls that no longer
// match. A Deployment being deleted neither adopts nor releases.
func (r *Reconciler) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, selector labels.Selector) ([]*appsv1.ReplicaSet, error) {
	var owned, orphans appsv1.ReplicaSetList
	if err := r.Client.List(ctx, &owned, client.InNamespace(d.Namespace), client.MatchingFields{ReplicaSetIndex: string(d.UID)}); err != nil {
		return nil, fmt.Errorf("list replica sets: %w", err)
	}
	if err := r.Client.List(ctx, &orphans, client.InNamespace(d.Namespace), client.MatchingFields{ReplicaSetIndex: noController},
		client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, fmt.Errorf("list orphan replica sets: %w", err)
	}
	deleting := d.DeletionTimestamp != nil
	canAdopt := sync.OnceValue(func() error { return r.recheck(ctx, d) })
	var claimed []*appsv1.ReplicaSet
	var errs []error
	for i := range owned.Items {
		rs := &owned.Items[i]
		if selector.Matches(labels.Set(rs.Labels)) {
			claimed = append(claimed, rs)
			continue
		}
		if deleting {
			continue
		}
		patch := fmt.Appendf(nil, `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":%q}],"uid":%q}}`, d.UID, rs.UID)
		if err := r.Client.Patch(ctx, rs, client.RawPatch(types.StrategicMergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("release replica set %s: %w", rs.Name, err))
		}
	}
	for i := range orphans.Items {
		rs := &orphans.Items[i]
		if deleting || rs.DeletionTimestamp != nil {
			continue
		}
		if err := canAdopt(); err != nil {
			errs = append(errs, fmt.Errorf("adopt replica set %s: %w", rs.Name, err))
			continue
		}
		ref := metav1.NewControllerRef(d, controllerKind)
		patch := fmt.Appendf(nil, `{"metadata":{"ownerReferences":[{"apiVersion":%q,"kind":%q,"name":%q,"uid":%q,"controller":true,"blockOwnerDeletion":true}],"uid":%q}}`,
			ref.APIVersion, ref.Kind, ref.Name, ref.UID, rs.UID)
		err := r.Client.Patch(ctx, rs, client.RawPatch(types.StrategicMergePatchType, patch))
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("adopt replica set %s: %w", rs.Name, err))
		default:
			claimed = append(claimed, rs)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return claimed, nil
}

// recheck reads d fresh before it adopts: the cache may still show a Deployment deleted meanwhile.
func (r *Reconciler) recheck(ctx context.Context, d *appsv1.Deployment) error {
	fresh := &appsv1.Deployment{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(d), fresh); err != nil {
		return err
	}
	if fresh.UID != d.UID {
		return fmt.Errorf("original Deployment %s/%s is gone: got uid %s, wanted %s", d.Namespace, d.Name, fresh.UID, d.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("deployment %s/%s has just been deleted at %v", d.Namespace, d.Name, fresh.DeletionTimestamp)
	}
	return nil
}

// podsByReplicaSet lists d's pods from the cache, grouped by the ReplicaSet of sets that controls them.
func (r *Reconciler) podsByReplicaSet(ctx context.Context, d *appsv1.Deployment, selector labels.Selector, sets []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	var list corev1.PodList
	if err := r.Client.List(ctx, &list, client.InNamespace(d.Namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	pods := make(map[types.UID][]*corev1.Pod, len(sets))
	for _, rs := range sets {
		pods[rs.UID] = nil
	}
	for i := range list.Items {
		ref := metav1.GetControllerOfNoCopy(&list.Items[i])
		if ref == nil {
			continue
		}
		if _, ok := pods[ref.UID]; ok {
			pods[ref.UID] = append(pods[ref.UID], &list.Items[i])
		}
	}
	return pods, nil
}

// isSelectingAll tells whether a selector would select every pod, which a Deployment may not.
func isSelectingAll(s *metav1.LabelSelector) bool {
	return s == nil || reflect.DeepEqual(s, &metav1.LabelSelector{})
}
