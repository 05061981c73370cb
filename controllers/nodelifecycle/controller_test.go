package nodelifecycle

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

const grace = 2 * time.Second

func start(t *testing.T) *ctrltest.Cluster {
	return ctrltest.Start(t,
		func(mgr manager.Manager) error {
			return (&Reconciler{Client: mgr.GetClient(), NodeMonitorGracePeriod: grace, NodeMonitorPeriod: 200 * time.Millisecond}).SetupWithManager(mgr)
		},
		func(mgr manager.Manager) error {
			return (&TaintEvictionReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)
		})
}

// keepAlive renews the Node's Lease, as its agent would, until the test ends.
func keepAlive(t *testing.T, c *ctrltest.Cluster, node string) {
	t.Helper()
	leases := c.Clientset.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NowMicro()
	_, err := leases.Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: corev1.NamespaceNodeLease},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create lease: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			l, err := leases.Get(ctx, node, metav1.GetOptions{})
			if err != nil {
				continue
			}
			now := metav1.NowMicro()
			l.Spec.RenewTime = &now
			_, _ = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func createPod(t *testing.T, c *ctrltest.Cluster, ns, name, node string, tolerations ...corev1.Toleration) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{NodeName: node, Tolerations: tolerations,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	created, err := c.Clientset.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	if err := c.SetPodRunning(created, true); err != nil {
		t.Fatalf("pod %s running: %v", name, err)
	}
	return created
}

func getNode(ctx context.Context, c *ctrltest.Cluster, name string) (*corev1.Node, error) {
	return c.Clientset.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
}

func waitForTaints(t *testing.T, c *ctrltest.Cluster, node string, want ...string) *corev1.Node {
	t.Helper()
	slices.Sort(want)
	var n *corev1.Node
	ctrltest.Eventually(t, 30*time.Second, fmt.Sprintf("node %s tainted %v", node, want), func(ctx context.Context) (bool, error) {
		var err error
		if n, err = getNode(ctx, c, node); err != nil {
			return false, err
		}
		if got := taintKeys(n.Spec.Taints); !slices.Equal(got, want) {
			return false, fmt.Errorf("taints %v", got)
		}
		return true, nil
	})
	return n
}

func waitForEvent(t *testing.T, c *ctrltest.Cluster, ns, kind, name, reason, message string) {
	t.Helper()
	ctrltest.Eventually(t, 30*time.Second, fmt.Sprintf("%s event on %s %s", reason, kind, name), func(ctx context.Context) (bool, error) {
		events, err := c.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.Set{
			"involvedObject.kind": kind, "involvedObject.name": name, "reason": reason}.String()})
		if err != nil {
			// Not every server selects events by these fields; look at them all then.
			events, err = c.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name && e.Reason == reason && e.Message == message {
				return true, nil
			}
		}
		return false, nil
	})
}

func setReady(t *testing.T, c *ctrltest.Cluster, node string, status corev1.ConditionStatus) {
	t.Helper()
	ctx := context.Background()
	n, err := getNode(ctx, c, node)
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			cond := &n.Status.Conditions[i]
			if cond.Status != status {
				cond.LastTransitionTime = now
			}
			cond.Status, cond.Reason, cond.Message, cond.LastHeartbeatTime = status, "KubeletReady", "", now
		}
	}
	if _, err := c.Clientset.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("node %s Ready=%s: %v", node, status, err)
	}
}

func TestSilentNodeBecomesUnknownTaintedAndEvicted(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	c.AddNode(t, "healthy", nil)
	keepAlive(t, c, "healthy")
	c.AddNode(t, "silent", nil)
	ns := c.Namespace(t)
	createPod(t, c, ns, "short", "silent", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](1)})
	createPod(t, c, ns, "default", "silent")
	createPod(t, c, ns, "safe", "healthy")

	var silent *corev1.Node
	t.Run("the silent node becomes Unknown", func(t *testing.T) {
		ctrltest.Eventually(t, 30*time.Second, "node silent Unknown", func(ctx context.Context) (bool, error) {
			n, err := getNode(ctx, c, "silent")
			if err != nil {
				return false, err
			}
			silent = n
			return readyStatus(n) == corev1.ConditionUnknown, nil
		})
		ready := readyCondition(silent)
		if ready.Reason != "NodeStatusUnknown" || ready.Message != "Kubelet stopped posting node status." {
			t.Errorf("Ready condition %+v", ready)
		}
		for _, ct := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
			if i := conditionIndex(silent.Status.Conditions, ct); i < 0 || silent.Status.Conditions[i].Status != corev1.ConditionUnknown {
				t.Errorf("condition %s not Unknown: %+v", ct, silent.Status.Conditions)
			}
		}
		waitForEvent(t, c, metav1.NamespaceDefault, "Node", "silent", "NodeNotReady", "Node silent status is now: NodeNotReady")
	})

	t.Run("and is tainted unreachable", func(t *testing.T) {
		silent = waitForTaints(t, c, "silent", "node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule")
	})

	t.Run("its pods are marked not ready", func(t *testing.T) {
		ctrltest.Eventually(t, 30*time.Second, "pod default not ready", func(ctx context.Context) (bool, error) {
			p, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, "default", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady {
					return cond.Status == corev1.ConditionFalse, nil
				}
			}
			return false, nil
		})
		waitForEvent(t, c, ns, "Pod", "default", "NodeNotReady", "Node is not ready")
	})

	t.Run("a pod tolerating it for 1s is evicted after 1s", func(t *testing.T) {
		var short *corev1.Pod
		ctrltest.Eventually(t, 30*time.Second, "pod short evicted", func(ctx context.Context) (bool, error) {
			var err error
			short, err = c.Clientset.CoreV1().Pods(ns).Get(ctx, "short", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return short.DeletionTimestamp != nil, nil
		})
		var added metav1.Time
		for _, taint := range silent.Spec.Taints {
			if taint.MatchTaint(&unreachableTaint) {
				added = *taint.TimeAdded
			}
		}
		deletedAt := short.DeletionTimestamp.Add(-time.Duration(ptr.Deref(short.DeletionGracePeriodSeconds, 0)) * time.Second)
		if deletedAt.Before(added.Add(time.Second)) {
			t.Errorf("evicted at %v, less than 1s after the taint at %v", deletedAt, added)
		}
		var found bool
		for _, cond := range short.Status.Conditions {
			found = found || cond.Type == corev1.DisruptionTarget && cond.Status == corev1.ConditionTrue && cond.Reason == "DeletionByTaintManager"
		}
		if !found {
			t.Errorf("conditions %+v lack DisruptionTarget/DeletionByTaintManager", short.Status.Conditions)
		}
		waitForEvent(t, c, ns, "Pod", "short", "TaintManagerEviction", "Marking for deletion Pod "+ns+"/short")

		// The default toleration of 300s keeps the other pod for now.
		def, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, "default", metav1.GetOptions{})
		if err != nil || def.DeletionTimestamp != nil {
			t.Errorf("pod with the default toleration: %v, deleting %v", err, def.DeletionTimestamp)
		}
	})

	t.Run("the healthy node and its pods are untouched", func(t *testing.T) {
		n, err := getNode(ctx, c, "healthy")
		if err != nil {
			t.Fatal(err)
		}
		if readyStatus(n) != corev1.ConditionTrue || len(n.Spec.Taints) != 0 {
			t.Errorf("healthy node: Ready %s, taints %v", readyStatus(n), taintKeys(n.Spec.Taints))
		}
		p, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, "safe", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status != corev1.ConditionTrue {
				t.Errorf("pod safe marked not ready")
			}
		}
	})

	t.Run("a node reporting Ready again loses its taints", func(t *testing.T) {
		setReady(t, c, "silent", corev1.ConditionTrue)
		keepAlive(t, c, "silent")
		waitForTaints(t, c, "silent")
		if n, err := getNode(ctx, c, "silent"); err != nil || readyStatus(n) != corev1.ConditionTrue {
			t.Errorf("node silent: %v, Ready %s", err, readyStatus(n))
		}
	})

	t.Run("a node reporting NotReady is tainted not-ready", func(t *testing.T) {
		setReady(t, c, "healthy", corev1.ConditionFalse)
		waitForTaints(t, c, "healthy", "node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/not-ready:NoSchedule")
		setReady(t, c, "healthy", corev1.ConditionTrue)
		waitForTaints(t, c, "healthy")
	})

	t.Run("an unschedulable node is tainted unschedulable", func(t *testing.T) {
		setUnschedulable := func(v bool) {
			n, err := getNode(ctx, c, "healthy")
			if err != nil {
				t.Fatal(err)
			}
			n.Spec.Unschedulable = v
			if _, err := c.Clientset.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		setUnschedulable(true)
		waitForTaints(t, c, "healthy", "node.kubernetes.io/unschedulable:NoSchedule")
		setUnschedulable(false)
		waitForTaints(t, c, "healthy")
	})
}

func TestUntoleratedTaintEvictsAtOnce(t *testing.T) {
	c := ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&TaintEvictionReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)
	})
	ctx := context.Background()
	node := c.AddNode(t, "maintenance", nil)
	ns := c.Namespace(t)
	createPod(t, c, ns, "tolerant", "maintenance", corev1.Toleration{Key: "example.com/maintenance", Operator: corev1.TolerationOpExists})
	createPod(t, c, ns, "intolerant", "maintenance")
	node.Spec.Taints = []corev1.Taint{{Key: "example.com/maintenance", Effect: corev1.TaintEffectNoExecute}}
	if _, err := c.Clientset.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 30*time.Second, "pod intolerant evicted", func(ctx context.Context) (bool, error) {
		p, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, "intolerant", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && p.DeletionTimestamp != nil, err
	})
	if p, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, "tolerant", metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Errorf("tolerating pod: %v, deleting %v", err, p.DeletionTimestamp)
	}
}

func TestLoneNodeOutageEvictsNothing(t *testing.T) {
	c := start(t)
	c.AddNode(t, "only", nil)
	ns := c.Namespace(t)
	createPod(t, c, ns, "short", "only", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](1)})
	// With no node Ready anywhere the cluster is fully disrupted: the node is tainted NoSchedule only,
	// in the same pass that would have added NoExecute.
	n := waitForTaints(t, c, "only", "node.kubernetes.io/unreachable:NoSchedule")
	if readyStatus(n) != corev1.ConditionUnknown {
		t.Errorf("node Ready %s, want Unknown", readyStatus(n))
	}
	p, err := c.Clientset.CoreV1().Pods(ns).Get(context.Background(), "short", metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp != nil {
		t.Errorf("pod: %v, deleting %v", err, p.DeletionTimestamp)
	}
}
