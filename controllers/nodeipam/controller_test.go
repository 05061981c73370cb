package nodeipam

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

// runReconciler runs a manager of its own with a fresh Reconciler, so that a test can stop it and start
// another one, as a restarted controller process would be. It returns the function that stops it.
func runReconciler(t *testing.T, cfg *rest.Config, r *Reconciler) (stop func()) {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                 scheme.Scheme,
		Logger:                 testr.New(t),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatalf("setup: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// addNode creates a bare Node: its status is of no interest here. (ctrltest.Cluster.AddNode writes the
// status after creating the Node and fails if this controller has updated the Node in between.)
func addNode(t *testing.T, c *ctrltest.Cluster, name string) {
	t.Helper()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Clientset.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
}

func waitForCIDR(t *testing.T, c *ctrltest.Cluster, name string) string {
	t.Helper()
	var cidr string
	ctrltest.Eventually(t, 30*time.Second, "pod CIDR of node "+name, func(ctx context.Context) (bool, error) {
		n, err := c.Clientset.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if n.Spec.PodCIDR == "" {
			return false, nil
		}
		if len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
			return false, fmt.Errorf("podCIDR %q and podCIDRs %v disagree", n.Spec.PodCIDR, n.Spec.PodCIDRs)
		}
		cidr = n.Spec.PodCIDR
		return true, nil
	})
	return cidr
}

func TestNodesGetDistinctCIDRsAcrossRestarts(t *testing.T) {
	c := ctrltest.Start(t)
	ctx := context.Background()
	cluster := netip.MustParsePrefix(DefaultClusterCIDR)

	stop := runReconciler(t, c.Env.Config, &Reconciler{})
	seen := map[string]string{} // CIDR -> node
	for _, name := range []string{"node-1", "node-2", "node-3"} {
		addNode(t, c, name)
	}
	for _, name := range []string{"node-1", "node-2", "node-3"} {
		cidr := waitForCIDR(t, c, name)
		p := netip.MustParsePrefix(cidr)
		if p.Bits() != DefaultMaskSizeIPv4 || !cluster.Contains(p.Addr()) {
			t.Errorf("node %s got %s, want a /%d of %s", name, cidr, DefaultMaskSizeIPv4, cluster)
		}
		if other, dup := seen[cidr]; dup {
			t.Fatalf("nodes %s and %s both got %s", other, name, cidr)
		}
		seen[cidr] = name
	}

	// A new controller learns the allocations from the Nodes alone.
	stop()
	runReconciler(t, c.Env.Config, &Reconciler{})
	freed := waitForCIDR(t, c, "node-2")
	if err := c.Clientset.CoreV1().Nodes().Delete(ctx, "node-2", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete node-2: %v", err)
	}
	delete(seen, freed)
	ctrltest.Eventually(t, 30*time.Second, "node-2 gone", func(ctx context.Context) (bool, error) {
		l, err := c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", "node-2").String()})
		return err == nil && len(l.Items) == 0, err
	})
	addNode(t, c, "node-4")
	if got := waitForCIDR(t, c, "node-4"); got != freed {
		t.Errorf("node-4 got %s, want %s freed by node-2 (the lowest free subnet)", got, freed)
	}
	seen[freed] = "node-4"
	addNode(t, c, "node-5")
	got := waitForCIDR(t, c, "node-5")
	if other, dup := seen[got]; dup {
		t.Fatalf("node-5 got %s, already given to %s", got, other)
	}
}

func TestFullRangeReportsCIDRNotAvailableUntilANodeGoes(t *testing.T) {
	c := ctrltest.Start(t, func(mgr manager.Manager) error {
		// Two subnets only.
		return (&Reconciler{Client: mgr.GetClient(), ClusterCIDR: "10.99.0.0/24", MaskSize: 25}).SetupWithManager(mgr)
	})
	ctx := context.Background()
	addNode(t, c, "a")
	addNode(t, c, "b")
	a, b := waitForCIDR(t, c, "a"), waitForCIDR(t, c, "b")
	if a == b {
		t.Fatalf("nodes a and b both got %s", a)
	}
	addNode(t, c, "c")
	ctrltest.Eventually(t, 30*time.Second, "CIDRNotAvailable event for node c", func(ctx context.Context) (bool, error) {
		events, err := c.Clientset.CoreV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Kind == "Node" && e.InvolvedObject.Name == "c" && e.Reason == "CIDRNotAvailable" &&
				e.Message == "Node c status is now: CIDRNotAvailable" && e.Source.Component == "cidrAllocator" {
				return true, nil
			}
		}
		return false, nil
	})
	if n, err := c.Clientset.CoreV1().Nodes().Get(ctx, "c", metav1.GetOptions{}); err != nil || n.Spec.PodCIDR != "" {
		t.Fatalf("node c: podCIDR %q, err %v; want none", n.Spec.PodCIDR, err)
	}
	if err := c.Clientset.CoreV1().Nodes().Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete node a: %v", err)
	}
	if got := waitForCIDR(t, c, "c"); got != a {
		t.Errorf("node c got %s, want %s freed by node a", got, a)
	}
}
