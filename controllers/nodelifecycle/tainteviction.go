package nodelifecycle

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// DefaultTolerationSeconds is how long pods without tolerations of their own stay on a not-ready or
// unreachable Node, as upstream's --default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds.
const DefaultTolerationSeconds = 300

// evictionNodeIndex indexes pods by spec.nodeName for the taint eviction reconciler.
const evictionNodeIndex = "nodelifecycle.tainteviction.spec.nodeName"

// TaintEvictionReconciler is the taint eviction controller: it deletes the pods of Nodes with NoExecute
// taints they do not tolerate, at once, or once the tolerationSeconds of their toleration have passed.
// Pods without a toleration of their own for the not-ready and unreachable taints are given one of
// DefaultTolerationSeconds, which upstream's admission adds to every pod. Before deleting a pod it
// records a TaintManagerEviction event and gives the pod the DisruptionTarget condition, as upstream.
// A request names a pod.
type TaintEvictionReconciler struct {
	// Client reads through the manager's cache; nil means the manager's client.
	Client client.Client
	// Recorder receives TaintManagerEviction events; nil means the manager's recorder for
	// "taint-eviction-controller", upstream's component name.
	Recorder record.EventRecorder
	// DefaultTolerationSeconds is the not-ready and unreachable toleration of pods without their own
	// (default 300).
	DefaultTolerationSeconds int64

	mu sync.Mutex
	// firstSeen is when each NoExecute taint without a timeAdded was first seen, by Node and taint: such
	// a taint is counted from then, as upstream counts every taint.
	firstSeen map[string]map[string]time.Time
}

// SetupWithManager runs the reconciler for pods bound to a Node and, when a Node's NoExecute taints
// change, for the pods on it.
func (r *TaintEvictionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("taint-eviction-controller")
	}
	if r.DefaultTolerationSeconds == 0 {
		r.DefaultTolerationSeconds = DefaultTolerationSeconds
	}
	r.firstSeen = map[string]map[string]time.Time{}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, evictionNodeIndex, podNodeName); err != nil {
		return fmt.Errorf("index pods by node: %w", err)
	}
	return builder.ControllerManagedBy(mgr).
		Named("tainteviction").
		For(&corev1.Pod{}, builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(e event.CreateEvent) bool { return e.Object.(*corev1.Pod).Spec.NodeName != "" },
			// As upstream: what matters of a pod is its Node and its tolerations.
			UpdateFunc: func(e event.UpdateEvent) bool {
				old, cur := e.ObjectOld.(*corev1.Pod), e.ObjectNew.(*corev1.Pod)
				return cur.Spec.NodeName != "" && (old.Spec.NodeName != cur.Spec.NodeName ||
					!apiequality.Semantic.DeepEqual(old.Spec.Tolerations, cur.Spec.Tolerations))
			},
			DeleteFunc:  func(event.DeleteEvent) bool { return false },
			GenericFunc: func(event.GenericEvent) bool { return false },
		})).
		Watches(&corev1.Node{}, handler.Funcs{
			CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				if node := e.Object.(*corev1.Node); len(noExecuteTaints(node)) > 0 {
					r.enqueuePodsOf(ctx, node.Name, q)
				}
			},
			UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				old, cur := e.ObjectOld.(*corev1.Node), e.ObjectNew.(*corev1.Node)
				if !apiequality.Semantic.DeepEqual(noExecuteTaints(old), noExecuteTaints(cur)) {
					r.enqueuePodsOf(ctx, cur.Name, q)
				}
			},
			DeleteFunc: func(_ context.Context, e event.DeleteEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				r.mu.Lock()
				delete(r.firstSeen, e.Object.GetName())
				r.mu.Unlock()
			},
		}).
		Complete(r)
}

func (r *TaintEvictionReconciler) enqueuePodsOf(ctx context.Context, node string, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.MatchingFields{evictionNodeIndex: node}); err != nil {
		log.FromContext(ctx).Error(err, "List pods of node", "node", node)
		return
	}
	for i := range pods.Items {
		q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&pods.Items[i])})
	}
}

// Reconcile evicts the pod req names if its Node's NoExecute taints call for it now, or asks to be
// called again when they will.
func (r *TaintEvictionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pod := &corev1.Pod{}
	if err := r.Client.Get(ctx, req.NamespacedName, pod); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	node := &corev1.Node{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: pod.Spec.NodeName}, node); err != nil {
		// A pod of a Node that is gone is the pod garbage collector's.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	taints := noExecuteTaints(node)
	if len(taints) == 0 {
		return ctrl.Result{}, nil
	}
	now := time.Now()
	at, evict := evictionTime(taints, effectiveTolerations(pod, r.DefaultTolerationSeconds), podStartOnNode(pod),
		func(t *corev1.Taint) time.Time { return r.taintStart(node.Name, t, now) })
	if !evict {
		return ctrl.Result{}, nil
	}
	if wait := at.Sub(now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	return ctrl.Result{}, r.evict(ctx, pod)
}

// taintStart is when the taint was added to the Node: its timeAdded, or else when this controller first
// saw it.
func (r *TaintEvictionReconciler) taintStart(node string, t *corev1.Taint, now time.Time) time.Time {
	if t.TimeAdded != nil {
		return t.TimeAdded.Time
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := t.Key + "=" + t.Value + ":" + string(t.Effect)
	if r.firstSeen[node] == nil {
		r.firstSeen[node] = map[string]time.Time{}
	}
	first, ok := r.firstSeen[node][key]
	if !ok {
		first = now
		r.firstSeen[node][key] = now
	}
	return first
}

// evict marks the pod as a disruption target and deletes it (gracefully: its agent, if alive, stops it).
func (r *TaintEvictionReconciler) evict(ctx context.Context, pod *corev1.Pod) error {
	r.Recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
	updated := pod.DeepCopy()
	if setDisruptionTarget(&updated.Status, metav1.Now()) {
		if err := r.Client.Status().Patch(ctx, updated, client.StrategicMergeFrom(pod)); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("mark pod %s/%s as disruption target: %w", pod.Namespace, pod.Name, err)
		}
	}
	if err := r.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	log.FromContext(ctx).Info("Evicted pod from tainted node", "pod", client.ObjectKeyFromObject(pod), "node", pod.Spec.NodeName)
	return nil
}

// setDisruptionTarget gives the status the DisruptionTarget condition of a taint eviction, reporting
// whether it changed anything.
func setDisruptionTarget(status *corev1.PodStatus, now metav1.Time) bool {
	want := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: "DeletionByTaintManager", Message: "Taint manager: deleting due to NoExecute taint", LastTransitionTime: now}
	for i := range status.Conditions {
		c := &status.Conditions[i]
		if c.Type != corev1.DisruptionTarget {
			continue
		}
		if c.Status == want.Status && c.Reason == want.Reason && c.Message == want.Message {
			return false
		}
		if c.Status == want.Status {
			want.LastTransitionTime = c.LastTransitionTime
		}
		*c = want
		return true
	}
	status.Conditions = append(status.Conditions, want)
	return true
}
