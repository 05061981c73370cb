// Package podgc deletes pods nobody else will, as upstream's pod garbage collector
// (pkg/controller/podgc) does, in one pass every Period:
//
//   - terminated pods (Succeeded or Failed) beyond TerminatedPodThreshold, evicted ones first and then
//     the oldest, so that finished Jobs and evictions do not pile up without bound;
//   - pods bound to a Node that no longer exists, once the Node has been missing for Quarantine (so a pod
//     bound to a Node the cache has not seen yet is spared) and a read past the cache confirms it;
//   - terminating pods on a NotReady Node carrying the node.kubernetes.io/out-of-service taint, whose
//     agent will never finish them;
//   - terminating pods never scheduled to a Node, which no agent will ever finish either.
//
// Pods are force-deleted (grace period 0) after being marked Failed if they were not terminal yet, and
// orphaned pods get the DisruptionTarget condition with reason DeletionByPodGC first, as upstream.
package podgc

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

const (
	// DefaultTerminatedPodThreshold is upstream's --terminated-pod-gc-threshold default.
	DefaultTerminatedPodThreshold = 12500
	// DefaultPeriod is how often upstream's pod GC runs (gcCheckPeriod).
	DefaultPeriod = 20 * time.Second
	// DefaultQuarantine is how long upstream waits before it believes a Node is gone.
	DefaultQuarantine = 40 * time.Second

	// reasonOrphaned is the DisruptionTarget reason upstream gives pods of deleted Nodes.
	reasonOrphaned = "DeletionByPodGC"
)

// passKey is the one request of this reconciler: every pass looks at all pods.
var passKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "podgc"}}

// Reconciler is the pod garbage collector.
type Reconciler struct {
	// Client reads through the manager's cache; nil means the manager's client.
	Client client.Client
	// APIReader reads past the cache, to be sure a Node is gone before its pods go; nil means the
	// manager's API reader.
	APIReader client.Reader
	// TerminatedPodThreshold is how many terminated pods may exist before the oldest are deleted
	// (default 12500); a negative value turns this off.
	TerminatedPodThreshold int
	// Period is the time between passes (default 20s).
	Period time.Duration
	// Quarantine is how long a Node must be missing before its pods are deleted (default 40s).
	Quarantine time.Duration

	mu sync.Mutex
	// missingSince is when each Node that pods name was first found missing.
	missingSince map[string]time.Time
}

// SetupWithManager runs a pass when the manager starts and every Period after.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.TerminatedPodThreshold == 0 {
		r.TerminatedPodThreshold = DefaultTerminatedPodThreshold
	}
	if r.Period <= 0 {
		r.Period = DefaultPeriod
	}
	if r.Quarantine <= 0 {
		r.Quarantine = DefaultQuarantine
	}
	r.missingSince = map[string]time.Time{}
	return builder.ControllerManagedBy(mgr).
		Named("podgc").
		WatchesRawSource(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			q.Add(passKey)
			return nil
		})).
		Complete(r)
}

// Reconcile runs one garbage collection pass and asks for the next one Period later.
func (r *Reconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods); err != nil {
		return ctrl.Result{}, fmt.Errorf("list pods: %w", err)
	}
	nodeList := &corev1.NodeList{}
	if err := r.Client.List(ctx, nodeList); err != nil {
		return ctrl.Result{}, fmt.Errorf("list nodes: %w", err)
	}
	nodes := make(map[string]*corev1.Node, len(nodeList.Items))
	for i := range nodeList.Items {
		nodes[nodeList.Items[i].Name] = &nodeList.Items[i]
	}

	gone, err := r.goneNodes(ctx, pods.Items, nodes, time.Now())
	if err != nil {
		return ctrl.Result{}, err
	}
	p := plan(pods.Items, nodes, gone, r.TerminatedPodThreshold)
	var errs []error
	for _, d := range p {
		if err := r.markFailedAndDelete(ctx, d); err != nil {
			errs = append(errs, err)
			continue
		}
		log.FromContext(ctx).Info("Force-deleted pod", "pod", podKey(d.pod), "why", d.why)
	}
	if err := errors.Join(errs...); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: r.Period}, nil
}

// goneNodes are the Nodes pods are bound to that have been missing from the cache for the quarantine
// and that the API server confirms do not exist.
func (r *Reconciler) goneNodes(ctx context.Context, pods []corev1.Pod, nodes map[string]*corev1.Node, now time.Time) (map[string]bool, error) {
	missing := map[string]bool{}
	for i := range pods {
		if name := pods[i].Spec.NodeName; name != "" && nodes[name] == nil {
			missing[name] = true
		}
	}
	r.mu.Lock()
	due := quarantine(r.missingSince, missing, now, r.Quarantine)
	r.mu.Unlock()

	gone := map[string]bool{}
	for _, name := range due {
		err := r.APIReader.Get(ctx, types.NamespacedName{Name: name}, &corev1.Node{})
		switch {
		case apierrors.IsNotFound(err):
			gone[name] = true
		case err != nil:
			return nil, fmt.Errorf("get node %s: %w", name, err)
		}
	}
	return gone, nil
}

// quarantine records in since when each missing Node was first seen missing, forgets Nodes no longer
// missing, and returns those missing for at least period, sorted.
func quarantine(since map[string]time.Time, missing map[string]bool, now time.Time, period time.Duration) []string {
	for name := range since {
		if !missing[name] {
			delete(since, name)
		}
	}
	var due []string
	for name := range missing {
		first, ok := since[name]
		if !ok {
			since[name] = now
			first = now
		}
		if now.Sub(first) >= period {
			due = append(due, name)
		}
	}
	sort.Strings(due)
	return due
}

// deletion is a pod to force-delete, why, and the condition to give it first, if any.
type deletion struct {
	pod       *corev1.Pod
	why       string
	condition *corev1.PodCondition
}

// plan lists the pods a pass deletes, given all pods, the Nodes that exist, the Nodes known to be gone
// and the terminated pod threshold (negative: unlimited).
func plan(pods []corev1.Pod, nodes map[string]*corev1.Node, gone map[string]bool, threshold int) []deletion {
	var out []deletion
	seen := map[types.UID]bool{}
	add := func(d deletion) {
		if !seen[d.pod.UID] {
			seen[d.pod.UID] = true
			out = append(out, d)
		}
	}

	if threshold >= 0 {
		var terminated []*corev1.Pod
		for i := range pods {
			if isTerminated(&pods[i]) {
				terminated = append(terminated, &pods[i])
			}
		}
		if excess := len(terminated) - threshold; excess > 0 {
			sort.Slice(terminated, func(i, j int) bool { return deleteFirst(terminated[i], terminated[j]) })
			for _, pod := range terminated[:excess] {
				add(deletion{pod: pod, why: "terminated pods over the threshold"})
			}
		}
	}

	var outOfService []*corev1.Pod
	for i := range pods {
		pod := &pods[i]
		if pod.DeletionTimestamp == nil || pod.Spec.NodeName == "" {
			continue
		}
		if node := nodes[pod.Spec.NodeName]; node != nil && !isNodeReady(node) && hasTaintKey(node, corev1.TaintNodeOutOfService) {
			outOfService = append(outOfService, pod)
		}
	}
	sort.Slice(outOfService, func(i, j int) bool { return deleteFirst(outOfService[i], outOfService[j]) })
	for _, pod := range outOfService {
		add(deletion{pod: pod, why: "terminating on an out-of-service node"})
	}

	for i := range pods {
		pod := &pods[i]
		if pod.Spec.NodeName != "" && gone[pod.Spec.NodeName] {
			add(deletion{pod: pod, why: "node no longer exists", condition: &corev1.PodCondition{
				Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
				Reason: reasonOrphaned, Message: "PodGC: node no longer exists",
			}})
		}
	}

	for i := range pods {
		pod := &pods[i]
		if pod.DeletionTimestamp != nil && pod.Spec.NodeName == "" {
			add(deletion{pod: pod, why: "terminating and never scheduled"})
		}
	}
	return out
}

// markFailedAndDelete makes a pod that is not terminal yet Failed (with the condition, if any), so that
// its owner sees how it ended, and deletes it at once.
func (r *Reconciler) markFailedAndDelete(ctx context.Context, d deletion) error {
	pod := d.pod
	if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		updated := pod.DeepCopy()
		updated.Status.Phase = corev1.PodFailed
		if d.condition != nil {
			setCondition(&updated.Status, *d.condition, metav1.Now())
		}
		if err := r.Client.Status().Patch(ctx, updated, client.StrategicMergeFrom(pod)); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("mark pod %s/%s failed: %w", pod.Namespace, pod.Name, err)
		}
	}
	err := r.Client.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// setCondition sets c in status, keeping the transition time unless the condition's status changes.
func setCondition(status *corev1.PodStatus, c corev1.PodCondition, now metav1.Time) {
	for i := range status.Conditions {
		existing := &status.Conditions[i]
		if existing.Type != c.Type {
			continue
		}
		c.LastTransitionTime = existing.LastTransitionTime
		if existing.Status != c.Status || c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = now
		}
		c.LastProbeTime = existing.LastProbeTime
		*existing = c
		return
	}
	c.LastTransitionTime = now
	status.Conditions = append(status.Conditions, c)
}

// isTerminated is true for pods in a terminal phase (or any phase the API does not know).
func isTerminated(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodPending, corev1.PodRunning, corev1.PodUnknown:
		return false
	}
	return true
}

// deleteFirst orders pods for deletion: evicted pods first (they are no controller's result), then the
// oldest, then by name.
func deleteFirst(a, b *corev1.Pod) bool {
	if ea, eb := isEvicted(a), isEvicted(b); ea != eb {
		return ea
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// isEvicted is true for a pod the node agent evicted (phase Failed, reason Evicted).
func isEvicted(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed && pod.Status.Reason == "Evicted"
}

func isNodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasTaintKey(node *corev1.Node, key string) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }
