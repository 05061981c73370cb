// Package nodelifecycle watches over Nodes and the pods on them, as upstream's node lifecycle
// controller (pkg/controller/nodelifecycle) and taint eviction controller (pkg/controller/tainteviction)
// do.
//
// Reconciler, the node lifecycle controller, judges each Node's health by its heartbeats: the renewTime
// of its Lease in kube-node-lease and the lastHeartbeatTime of its Ready condition. When neither has
// moved for NodeMonitorGracePeriod, the node agent is taken to be gone: the Node's Ready, MemoryPressure,
// DiskPressure and PIDPressure conditions become Unknown ("Kubelet stopped posting node status."), its
// pods are marked not Ready so that Services stop sending them traffic, and the Node is tainted
// node.kubernetes.io/unreachable, NoSchedule (nothing new goes there) and NoExecute (what is there is
// evicted, see TaintEvictionReconciler). A Node whose agent reports Ready=False is tainted
// node.kubernetes.io/not-ready likewise; the taints go when the Node is Ready again. Other conditions
// and spec.unschedulable get their NoSchedule taints too (upstream's TaintNodesByCondition).
//
// As upstream, evictions stop when they would do more harm than good: when no Node of any zone is Ready
// (most likely the control plane is cut off, not every node dead) the NoExecute taints are removed, and
// in a small zone where most Nodes are failing no new ones are added.
//
// The controller makes one pass over all Nodes at a time, as zone health needs them all: when a Node
// changes (beyond a heartbeat), and at least every NodeMonitorPeriod, since a Node going silent makes no
// event. Heartbeats are judged by when this controller saw them move, as upstream does, so the only
// memory it keeps is of the heartbeats it last saw; a restarted controller gives every Node a fresh
// grace period.
package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/component-helpers/node/topology"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Defaults, as upstream's kube-controller-manager flags.
const (
	DefaultNodeMonitorGracePeriod = 40 * time.Second
	DefaultNodeStartupGracePeriod = 60 * time.Second
	DefaultNodeMonitorPeriod      = 5 * time.Second
	DefaultLargeClusterThreshold  = 50
	DefaultUnhealthyZoneThreshold = 0.55
)

// conflictRetry is how soon a pass whose writes conflicted with newer data runs again.
const conflictRetry = 100 * time.Millisecond

// podNodeIndex indexes pods by spec.nodeName for this reconciler.
const podNodeIndex = "nodelifecycle.spec.nodeName"

// passKey is the one request of the reconciler: a pass over all Nodes.
var passKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "nodes"}}

// Reconciler is the node lifecycle controller.
type Reconciler struct {
	// Client reads through the manager's cache; nil means the manager's client.
	Client client.Client
	// Recorder receives NodeNotReady events; nil means the manager's recorder for "node-controller",
	// upstream's component name.
	Recorder record.EventRecorder
	// NodeMonitorGracePeriod is how long a Node may go without heartbeats before it is Unknown
	// (default 40s).
	NodeMonitorGracePeriod time.Duration
	// NodeStartupGracePeriod is how long a new Node may take to post its first Ready condition
	// (default 60s).
	NodeStartupGracePeriod time.Duration
	// NodeMonitorPeriod is the longest time between two passes (default 5s).
	NodeMonitorPeriod time.Duration
	// LargeClusterThreshold is the size above which a partially disrupted zone still gets new
	// NoExecute taints (default 50).
	LargeClusterThreshold int
	// UnhealthyZoneThreshold is the share of Nodes not Ready (of at least three) that makes a zone
	// partially disrupted (default 0.55).
	UnhealthyZoneThreshold float64

	probes probes
	// wasAllDisrupted is whether the last pass found every zone fully disrupted.
	wasAllDisrupted bool
}

// SetupWithManager runs passes on changes to Nodes, on new and deleted Leases, and for pods bound to an
// unreachable Node.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("node-controller")
	}
	if r.NodeMonitorGracePeriod <= 0 {
		r.NodeMonitorGracePeriod = DefaultNodeMonitorGracePeriod
	}
	if r.NodeStartupGracePeriod <= 0 {
		r.NodeStartupGracePeriod = DefaultNodeStartupGracePeriod
	}
	if r.NodeMonitorPeriod <= 0 {
		r.NodeMonitorPeriod = min(DefaultNodeMonitorPeriod, r.NodeMonitorGracePeriod/2)
	}
	if r.LargeClusterThreshold <= 0 {
		r.LargeClusterThreshold = DefaultLargeClusterThreshold
	}
	if r.UnhealthyZoneThreshold <= 0 {
		r.UnhealthyZoneThreshold = DefaultUnhealthyZoneThreshold
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, podNodeIndex, podNodeName); err != nil {
		return fmt.Errorf("index pods by node: %w", err)
	}
	toPass := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{passKey}
	})
	isNodeLease := func(o client.Object) bool { return o.GetNamespace() == corev1.NamespaceNodeLease }
	// Heartbeats alone need no pass: the periodic one sees them, as upstream's monitor does.
	return builder.ControllerManagedBy(mgr).
		Named("nodelifecycle").
		Watches(&corev1.Node{}, toPass, builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(e event.UpdateEvent) bool {
				return nodeChanged(e.ObjectOld.(*corev1.Node), e.ObjectNew.(*corev1.Node))
			},
		})).
		Watches(&coordinationv1.Lease{}, toPass, builder.WithPredicates(predicate.Funcs{
			CreateFunc:  func(e event.CreateEvent) bool { return isNodeLease(e.Object) },
			UpdateFunc:  func(event.UpdateEvent) bool { return false },
			DeleteFunc:  func(e event.DeleteEvent) bool { return isNodeLease(e.Object) },
			GenericFunc: func(event.GenericEvent) bool { return false },
		})).
		// A pod bound to an unreachable Node must be marked not Ready too.
		Watches(&corev1.Pod{}, toPass, builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(e event.CreateEvent) bool { return r.onUnknownNode(e.Object.(*corev1.Pod).Spec.NodeName) },
			UpdateFunc: func(e event.UpdateEvent) bool {
				old, cur := e.ObjectOld.(*corev1.Pod), e.ObjectNew.(*corev1.Pod)
				return old.Spec.NodeName != cur.Spec.NodeName && r.onUnknownNode(cur.Spec.NodeName)
			},
			DeleteFunc:  func(event.DeleteEvent) bool { return false },
			GenericFunc: func(event.GenericEvent) bool { return false },
		})).
		Complete(r)
}

// nodeChanged says whether a Node update matters before the next periodic pass: a change of its spec,
// labels (zones) or the status of a condition, not a mere heartbeat.
func nodeChanged(old, cur *corev1.Node) bool {
	if !apiequality.Semantic.DeepEqual(old.Spec, cur.Spec) || !maps.Equal(old.Labels, cur.Labels) ||
		len(old.Status.Conditions) != len(cur.Status.Conditions) {
		return true
	}
	for i := range cur.Status.Conditions {
		c := &cur.Status.Conditions[i]
		if j := conditionIndex(old.Status.Conditions, c.Type); j < 0 || old.Status.Conditions[j].Status != c.Status {
			return true
		}
	}
	return false
}

// onUnknownNode says whether the named Node's Ready condition is Unknown, as the cache has it.
func (r *Reconciler) onUnknownNode(name string) bool {
	if name == "" {
		return false
	}
	node := &corev1.Node{}
	if err := r.Client.Get(context.Background(), types.NamespacedName{Name: name}, node); err != nil {
		return false
	}
	return readyStatus(node) == corev1.ConditionUnknown
}

// podNodeName is the index function of podNodeIndex: a pod's node, if it has one.
func podNodeName(obj client.Object) []string {
	if name := obj.(*corev1.Pod).Spec.NodeName; name != "" {
		return []string{name}
	}
	return nil
}

// Reconcile makes one pass over all Nodes and asks for the next one when the first healthy Node could
// run out of grace.
func (r *Reconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	now := time.Now()
	nodeList := &corev1.NodeList{}
	if err := r.Client.List(ctx, nodeList); err != nil {
		return ctrl.Result{}, fmt.Errorf("list nodes: %w", err)
	}
	leaseList := &coordinationv1.LeaseList{}
	if err := r.Client.List(ctx, leaseList, client.InNamespace(corev1.NamespaceNodeLease)); err != nil {
		return ctrl.Result{}, fmt.Errorf("list node leases: %w", err)
	}
	leases := make(map[string]*coordinationv1.Lease, len(leaseList.Items))
	for i := range leaseList.Items {
		leases[leaseList.Items[i].Name] = &leaseList.Items[i]
	}
	seen := r.probes.observeAll(nodeList.Items, leases, now)

	var errs []error
	next := r.NodeMonitorPeriod
	nodes := make([]*corev1.Node, 0, len(nodeList.Items))
	for i := range nodeList.Items {
		node := &nodeList.Items[i]
		grace := gracePeriod(node, r.NodeMonitorGracePeriod, r.NodeStartupGracePeriod)
		if left := seen[node.Name].moved.Add(grace).Sub(now); left >= 0 {
			next = min(next, left+10*time.Millisecond)
		} else if err := r.markUnknown(ctx, node, now); err != nil {
			errs = append(errs, err)
		}
		nodes = append(nodes, node)
	}

	states, sizes := zoneStates(nodes, r.UnhealthyZoneThreshold)
	allDisrupted := allFullyDisrupted(states)
	switch {
	case allDisrupted && !r.wasAllDisrupted:
		logger.Info("No node is Ready: stopping evictions")
	case !allDisrupted && r.wasAllDisrupted:
		// Give every Node a full grace period to report again.
		logger.Info("Some nodes are Ready again: resuming evictions")
		r.probes.restart(now)
	}
	r.wasAllDisrupted = allDisrupted

	for _, node := range nodes {
		policy := taintFreely
		switch zone := topology.GetZoneKey(node); {
		case allDisrupted:
			policy = untaint
		case states[zone] == statePartialDisruption && sizes[zone] <= r.LargeClusterThreshold:
			policy = taintNoMore
		}
		if err := r.syncTaints(ctx, node, policy, now); err != nil {
			errs = append(errs, err)
		}
		if readyStatus(node) == corev1.ConditionUnknown {
			if err := r.markPodsNotReady(ctx, node, now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 && !slices.ContainsFunc(errs, func(err error) bool { return !apierrors.IsConflict(err) }) {
		// Only writes based on a cache that was behind: the next pass, on fresher data, retries them.
		logger.V(1).Info("Writes conflicted; retrying", "errors", errors.Join(errs...).Error())
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	if err := errors.Join(errs...); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

// markUnknown sets the Node's monitored conditions to Unknown, in place and in the API, and records
// NodeNotReady if it was Ready.
func (r *Reconciler) markUnknown(ctx context.Context, node *corev1.Node, now time.Time) error {
	conds, changed := unknownConditions(node, metav1.NewTime(now))
	if !changed {
		return nil
	}
	wasReady := readyStatus(node) == corev1.ConditionTrue
	updated := node.DeepCopy()
	updated.Status.Conditions = conds
	if err := r.Client.Status().Update(ctx, updated); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("mark node %s unknown: %w", node.Name, err)
	}
	log.FromContext(ctx).Info("Node stopped posting status", "node", node.Name)
	if wasReady {
		r.Recorder.Eventf(&corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node.Name, UID: node.UID},
			corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: %s", node.Name, "NodeNotReady")
	}
	*node = *updated
	return nil
}

// syncTaints gives the Node the taints its conditions call for.
func (r *Reconciler) syncTaints(ctx context.Context, node *corev1.Node, policy noExecutePolicy, now time.Time) error {
	want := desiredTaints(node, policy, metav1.NewTime(now))
	if apiequality.Semantic.DeepEqual(want, node.Spec.Taints) || (len(want) == 0 && len(node.Spec.Taints) == 0) {
		return nil
	}
	updated := node.DeepCopy()
	updated.Spec.Taints = want
	if err := r.Client.Patch(ctx, updated, client.MergeFromWithOptions(node, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("taint node %s: %w", node.Name, err)
	}
	log.FromContext(ctx).V(1).Info("Updated node taints", "node", node.Name, "taints", taintStrings(want))
	*node = *updated
	return nil
}

// markPodsNotReady sets the Ready condition of the Node's pods to False, as upstream's
// MarkPodsNotReady, with a NodeNotReady event each. Only pods that became Ready before the Node became
// Unknown are marked: a pod made Ready since was made so by a live agent.
func (r *Reconciler) markPodsNotReady(ctx context.Context, node *corev1.Node, now time.Time) error {
	nodeReady := readyCondition(node)
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.MatchingFields{podNodeIndex: node.Name}); err != nil {
		return fmt.Errorf("list pods of node %s: %w", node.Name, err)
	}
	var errs []error
	for i := range pods.Items {
		pod := &pods.Items[i]
		updated, ok := podNotReady(pod, nodeReady.LastTransitionTime, metav1.NewTime(now))
		if !ok {
			continue
		}
		// A patch of the one condition: the agent may be writing other parts of the status.
		if err := r.Client.Status().Patch(ctx, updated, client.StrategicMergeFrom(pod)); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("mark pod %s/%s not ready: %w", pod.Namespace, pod.Name, err))
			}
			continue
		}
		log.FromContext(ctx).V(1).Info("Marked pod not ready", "pod", client.ObjectKeyFromObject(pod), "node", node.Name)
		r.Recorder.Event(updated, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
	return errors.Join(errs...)
}

// podNotReady returns the pod with its Ready condition False, if it was not already and its readiness
// was last set no later than since.
func podNotReady(pod *corev1.Pod, since metav1.Time, now metav1.Time) (*corev1.Pod, bool) {
	i := slices.IndexFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodReady })
	if i < 0 || pod.Status.Conditions[i].Status == corev1.ConditionFalse || pod.Status.Conditions[i].LastTransitionTime.After(since.Time) {
		return nil, false
	}
	updated := pod.DeepCopy()
	updated.Status.Conditions[i].Status = corev1.ConditionFalse
	updated.Status.Conditions[i].LastTransitionTime = now
	return updated, true
}

func taintStrings(taints []corev1.Taint) []string {
	out := make([]string, len(taints))
	for i := range taints {
		out[i] = taints[i].ToString()
	}
	return out
}
