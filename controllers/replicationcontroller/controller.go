// Package replicationcontroller keeps a stable set of replica pods running for each
// ReplicationController, the older form of a ReplicaSet whose selector is a plain map of labels.
//
// As upstream runs replication controllers through its replica set code, this reconciler shows each
// ReplicationController to a replicaset.Syncer as a ReplicaSet and writes the ReplicaSet status it
// computes back as the controller's status: one implementation, two kinds. Pods it creates or adopts
// name the ReplicationController (apiVersion v1) as their controller.
package replicationcontroller

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/skiffhq/skiff/controllers/replicaset"
)

// PodIndex is the name of the field index of pods by their controller's UID.
const PodIndex = "replicationcontroller.controllerUID"

// Reconciler keeps the pods of each ReplicationController matching its spec and reports them in its
// status.
type Reconciler struct {
	// Client reads through the manager's cache and writes to the API.
	Client client.Client
	// APIReader reads around the cache (a controller is read fresh before it adopts pods); nil means the
	// manager's.
	APIReader client.Reader
	// Recorder records events on ReplicationControllers, as "replication-controller".
	Recorder record.EventRecorder
	// BurstReplicas is the most pods one sync creates or deletes (default 500).
	BurstReplicas int
	// MaxConcurrentReconciles is how many controllers sync at once (default 5).
	MaxConcurrentReconciles int

	syncer *replicaset.Syncer
}

// SetupWithManager adds the reconciler to mgr: it watches ReplicationControllers and pods.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = replicaset.DefaultMaxConcurrentReconciles
	}
	if err := replicaset.IndexPodsByController(context.Background(), mgr.GetFieldIndexer(), PodIndex); err != nil {
		return fmt.Errorf("index pods by controller: %w", err)
	}
	r.syncer = replicaset.NewSyncer(replicaset.SyncerOptions{
		Client: r.Client, APIReader: r.APIReader, Recorder: r.Recorder,
		Kind: corev1.SchemeGroupVersion.WithKind("ReplicationController"), PodIndex: PodIndex,
		BurstReplicas: r.BurstReplicas,
	})
	return builder.ControllerManagedBy(mgr).
		For(&corev1.ReplicationController{}).
		Watches(&corev1.Pod{}, r.syncer.PodHandler(r.controllersMatching)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// Reconcile syncs the pods and the status of one ReplicationController.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rc := &corev1.ReplicationController{}
	if err := r.Client.Get(ctx, req.NamespacedName, rc); err != nil {
		if apierrors.IsNotFound(err) {
			r.syncer.Forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	rsStatus, after, syncErr := r.syncer.Sync(ctx, rc, asReplicaSet(rc))
	if status := fromReplicaSetStatus(rsStatus); !equality.Semantic.DeepEqual(rc.Status, status) {
		rc.Status = status
		if err := r.Client.Status().Update(ctx, rc); err != nil {
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

// controllersMatching are the ReplicationControllers whose selector matches an orphan pod.
func (r *Reconciler) controllersMatching(ctx context.Context, pod *corev1.Pod) []reconcile.Request {
	var list corev1.ReplicationControllerList
	if err := r.Client.List(ctx, &list, client.InNamespace(pod.Namespace)); err != nil {
		log.FromContext(ctx).Error(err, "List ReplicationControllers for an orphan pod", "pod", pod.Name)
		return nil
	}
	var reqs []reconcile.Request
	for _, rc := range list.Items {
		if len(rc.Spec.Selector) == 0 || !labels.SelectorFromSet(rc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			continue
		}
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: rc.Namespace, Name: rc.Name}})
	}
	return reqs
}

// asReplicaSet shows rc as the ReplicaSet it is equivalent to, as upstream's conversion does.
func asReplicaSet(rc *corev1.ReplicationController) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: *rc.ObjectMeta.DeepCopy(),
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        rc.Spec.Replicas,
			MinReadySeconds: rc.Spec.MinReadySeconds,
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas:             rc.Status.Replicas,
			FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas:        rc.Status.ReadyReplicas,
			AvailableReplicas:    rc.Status.AvailableReplicas,
			ObservedGeneration:   rc.Status.ObservedGeneration,
		},
	}
	if len(rc.Spec.Selector) > 0 {
		rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: rc.Spec.Selector}
	}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template.DeepCopy()
	}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status, Reason: c.Reason,
			Message: c.Message, LastTransitionTime: c.LastTransitionTime,
		})
	}
	return rs
}

// fromReplicaSetStatus is the ReplicationController status of a ReplicaSet status (which has no
// terminating count).
func fromReplicaSetStatus(s appsv1.ReplicaSetStatus) corev1.ReplicationControllerStatus {
	status := corev1.ReplicationControllerStatus{
		Replicas:             s.Replicas,
		FullyLabeledReplicas: s.FullyLabeledReplicas,
		ReadyReplicas:        s.ReadyReplicas,
		AvailableReplicas:    s.AvailableReplicas,
		ObservedGeneration:   s.ObservedGeneration,
	}
	for _, c := range s.Conditions {
		status.Conditions = append(status.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.Type), Status: c.Status, Reason: c.Reason,
			Message: c.Message, LastTransitionTime: c.LastTransitionTime,
		})
	}
	return status
}
