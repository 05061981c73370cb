package scheduler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

const timeout = 30 * time.Second

// startScheduler runs an API server and a manager with the scheduler.
func startScheduler(t *testing.T) (*ctrltest.Cluster, *Scheduler) {
	t.Helper()
	s := &Scheduler{}
	c := ctrltest.Start(t, func(mgr manager.Manager) error {
		s.Client, s.Recorder = mgr.GetClient(), mgr.GetEventRecorderFor("default-scheduler")
		return s.SetupWithManager(mgr)
	})
	return c, s
}

// waitNodes waits for the scheduler to know n nodes, so that placements see all of them.
func waitNodes(t *testing.T, s *Scheduler, n int) {
	t.Helper()
	ctrltest.Eventually(t, timeout, fmt.Sprintf("scheduler sees %d nodes", n), func(context.Context) (bool, error) {
		return s.Stats().Nodes == n, nil
	})
}

// waitNodeSeen waits for the scheduler's copy of a node to satisfy cond.
func waitNodeSeen(t *testing.T, s *Scheduler, name string, cond func(*corev1.Node) bool) {
	t.Helper()
	ctrltest.Eventually(t, timeout, "scheduler sees the change of node "+name, func(context.Context) (bool, error) {
		s.cache.mu.Lock()
		defer s.cache.mu.Unlock()
		e, ok := s.cache.nodes[name]
		return ok && e.info.node != nil && cond(e.info.node), nil
	})
}

// testPod is a pod with one container requesting cpu and memory.
func testPod(name, cpu, memory string, podLabels map[string]string) *corev1.Pod {
	requests := corev1.ResourceList{}
	if cpu != "" {
		requests[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memory != "" {
		requests[corev1.ResourceMemory] = resource.MustParse(memory)
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: podLabels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "app:v1", Resources: corev1.ResourceRequirements{Requests: requests},
		}}},
	}
}

func createPod(t *testing.T, c *ctrltest.Cluster, ns string, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	created, err := c.Clientset.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
	return created
}

// waitBound waits for the pod to be bound and returns it.
func waitBound(t *testing.T, c *ctrltest.Cluster, ns, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	ctrltest.Eventually(t, timeout, "pod "+name+" bound", func(ctx context.Context) (bool, error) {
		var err error
		pod, err = c.Clientset.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && pod.Spec.NodeName != "", err
	})
	return pod
}

// waitUnschedulable waits for the pod's PodScheduled condition to say Unschedulable with a message
// that want accepts. Until the scheduler has seen every object a test made, an earlier message may
// say something else.
func waitUnschedulable(t *testing.T, c *ctrltest.Cluster, ns, name string, want func(msg string) bool) {
	t.Helper()
	ctrltest.Eventually(t, timeout, "pod "+name+" unschedulable for the expected reason", func(ctx context.Context) (bool, error) {
		pod, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if pod.Spec.NodeName != "" {
			return false, fmt.Errorf("pod was bound to %s", pod.Spec.NodeName)
		}
		cond := podCondition(pod, corev1.PodScheduled)
		if cond == nil || cond.Status != corev1.ConditionFalse || cond.Reason != corev1.PodReasonUnschedulable {
			return false, fmt.Errorf("PodScheduled condition %+v", cond)
		}
		if !want(cond.Message) {
			return false, fmt.Errorf("message %q", cond.Message)
		}
		return true, nil
	})
}

func is(want string) func(string) bool { return func(msg string) bool { return msg == want } }

func contains(part string) func(string) bool {
	return func(msg string) bool { return strings.Contains(msg, part) }
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// waitEvents waits for at least one event of reason about the pod and returns all of them.
func waitEvents(t *testing.T, c *ctrltest.Cluster, ns, pod, reason string) []corev1.Event {
	t.Helper()
	var found []corev1.Event
	ctrltest.Eventually(t, timeout, reason+" event for "+pod, func(ctx context.Context) (bool, error) {
		list, err := c.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		found = found[:0]
		for _, e := range list.Items {
			if e.InvolvedObject.Name == pod && e.Reason == reason {
				found = append(found, e)
			}
		}
		return len(found) > 0, nil
	})
	return found
}

// updateNode changes a node's spec and metadata.
func updateNode(t *testing.T, c *ctrltest.Cluster, name string, change func(*corev1.Node)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := c.Clientset.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(node)
		_, err = c.Clientset.CoreV1().Nodes().Update(context.Background(), node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("update node %s: %v", name, err)
	}
}

// setAllocatable gives a node the cpus it reports allocatable.
func setAllocatable(t *testing.T, c *ctrltest.Cluster, name, cpu string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := c.Clientset.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		node.Status.Capacity[corev1.ResourceCPU] = resource.MustParse(cpu)
		node.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse(cpu)
		_, err = c.Clientset.CoreV1().Nodes().UpdateStatus(context.Background(), node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("set allocatable of node %s: %v", name, err)
	}
}

func TestPodsSpreadOverNodesAndReportScheduled(t *testing.T) {
	c, s := startScheduler(t)
	ns := c.Namespace(t)
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		c.AddNode(t, n, nil)
	}
	waitNodes(t, s, 3)
	for i := range 6 {
		createPod(t, c, ns, testPod(fmt.Sprintf("pod-%d", i), "1", "1Gi", nil))
	}
	perNode := map[string]int{}
	for i := range 6 {
		pod := waitBound(t, c, ns, fmt.Sprintf("pod-%d", i))
		perNode[pod.Spec.NodeName]++
		if cond := podCondition(pod, corev1.PodScheduled); cond == nil || cond.Status != corev1.ConditionTrue {
			t.Errorf("pod %s: PodScheduled condition %+v, want True", pod.Name, cond)
		}
	}
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		if perNode[n] != 2 {
			t.Errorf("pods per node = %v, want 2 on each (least allocated first)", perNode)
			break
		}
	}
	pod := waitBound(t, c, ns, "pod-0")
	events := waitEvents(t, c, ns, "pod-0", "Scheduled")
	want := fmt.Sprintf("Successfully assigned %s/pod-0 to %s", ns, pod.Spec.NodeName)
	if events[0].Message != want || events[0].Type != corev1.EventTypeNormal {
		t.Errorf("Scheduled event = %s %q, want Normal %q", events[0].Type, events[0].Message, want)
	}
}

func TestPodThatFitsNowhereWaitsUntilANodeFits(t *testing.T) {
	c, s := startScheduler(t)
	ns := c.Namespace(t)
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		c.AddNode(t, n, nil)
	}
	waitNodes(t, s, 3)
	pod := testPod("big", "100", "1Gi", nil)
	// A condition of the node's own must survive the scheduler's status writes.
	pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/ready"}}
	created := createPod(t, c, ns, pod)
	created.Status.Conditions = []corev1.PodCondition{{Type: "example.com/ready", Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now()}}
	if _, err := c.Clientset.CoreV1().Pods(ns).UpdateStatus(context.Background(), created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("set pod condition: %v", err)
	}

	want := "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
	waitUnschedulable(t, c, ns, "big", is(want))
	events := waitEvents(t, c, ns, "big", "FailedScheduling")
	if events[0].Type != corev1.EventTypeWarning || events[0].Message != want {
		t.Errorf("FailedScheduling event = %s %q, want Warning %q", events[0].Type, events[0].Message, want)
	}
	got, err := c.Clientset.CoreV1().Pods(ns).Get(context.Background(), "big", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if podCondition(got, "example.com/ready") == nil {
		t.Errorf("conditions %+v lost the pod's own condition", got.Status.Conditions)
	}

	// More cpu that is still not enough retries the pod, which fails again for the same reason.
	failures := s.Stats().Unschedulable
	setAllocatable(t, c, "node-a", "8")
	ctrltest.Eventually(t, timeout, "retry after node-a grew", func(context.Context) (bool, error) {
		return s.Stats().Unschedulable > failures, nil
	})

	start := time.Now()
	c.AddNode(t, "node-big", nil)
	setAllocatable(t, c, "node-big", "128")
	bound := waitBound(t, c, ns, "big")
	if bound.Spec.NodeName != "node-big" {
		t.Errorf("pod bound to %s, want node-big", bound.Spec.NodeName)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("pod bound %v after the node fit, want within seconds", d)
	}
	if cond := podCondition(bound, corev1.PodScheduled); cond == nil || cond.Status != corev1.ConditionTrue {
		t.Errorf("PodScheduled = %+v after binding, want True", cond)
	}
	// Each failure message was reported once, not at every retry.
	waitEvents(t, c, ns, "big", "Scheduled")
	seen := map[string]bool{}
	for _, e := range waitEvents(t, c, ns, "big", "FailedScheduling") {
		if seen[e.Message] || e.Count > 1 {
			t.Errorf("FailedScheduling %q reported more than once (count %d)", e.Message, e.Count)
		}
		seen[e.Message] = true
	}
	if !seen[want] {
		t.Errorf("FailedScheduling events %v lack %q", seen, want)
	}
}

func TestNodeSelectorAndTaints(t *testing.T) {
	c, s := startScheduler(t)
	ns := c.Namespace(t)
	c.AddNode(t, "plain", nil)
	c.AddNode(t, "ssd", map[string]string{"disk": "ssd"})
	c.AddNode(t, "gpu", nil)
	updateNode(t, c, "gpu", func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	})
	updateNode(t, c, "plain", func(n *corev1.Node) { n.Spec.Unschedulable = true })
	waitNodeSeen(t, s, "gpu", func(n *corev1.Node) bool { return len(n.Spec.Taints) == 1 })
	waitNodeSeen(t, s, "plain", func(n *corev1.Node) bool { return n.Spec.Unschedulable })
	waitNodes(t, s, 3)

	selected := testPod("selected", "100m", "", nil)
	selected.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	createPod(t, c, ns, selected)
	if pod := waitBound(t, c, ns, "selected"); pod.Spec.NodeName != "ssd" {
		t.Errorf("pod with nodeSelector disk=ssd bound to %s", pod.Spec.NodeName)
	}

	tolerating := testPod("tolerating", "100m", "", nil)
	tolerating.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "gpu"}
	tolerating.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	createPod(t, c, ns, tolerating)
	if pod := waitBound(t, c, ns, "tolerating"); pod.Spec.NodeName != "gpu" {
		t.Errorf("tolerating pod bound to %s, want gpu", pod.Spec.NodeName)
	}

	intolerant := testPod("intolerant", "100m", "", nil)
	intolerant.Spec.NodeSelector = map[string]string{"disk": "hdd"}
	createPod(t, c, ns, intolerant)
	waitUnschedulable(t, c, ns, "intolerant", is("0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "+
		"1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable. "+
		"preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."))

	// Labelling a node so that it matches retries the pod at once.
	updateNode(t, c, "ssd", func(n *corev1.Node) { n.Labels["disk"] = "hdd" })
	if pod := waitBound(t, c, ns, "intolerant"); pod.Spec.NodeName != "ssd" {
		t.Errorf("pod bound to %s after relabelling, want ssd", pod.Spec.NodeName)
	}
}

func TestRequiredAntiAffinityKeepsPodsOnDistinctHosts(t *testing.T) {
	c, s := startScheduler(t)
	ns := c.Namespace(t)
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		c.AddNode(t, n, nil)
	}
	waitNodes(t, s, 3)
	web := func(name string) *corev1.Pod {
		pod := testPod(name, "100m", "", map[string]string{"app": "web"})
		pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				TopologyKey:   corev1.LabelHostname,
			}},
		}}
		return pod
	}
	hosts := map[string]bool{}
	for i := range 3 {
		name := fmt.Sprintf("web-%d", i)
		createPod(t, c, ns, web(name))
		// One at a time: each must see the previous one's node taken.
		hosts[waitBound(t, c, ns, name).Spec.NodeName] = true
	}
	if len(hosts) != 3 {
		t.Errorf("web pods on hosts %v, want 3 distinct", hosts)
	}
	createPod(t, c, ns, web("web-3"))
	waitUnschedulable(t, c, ns, "web-3", contains("3 node(s) didn't match pod anti-affinity rules"))

	// Deleting one of them frees its host for the fourth.
	gone := waitBound(t, c, ns, "web-1")
	if err := c.Clientset.CoreV1().Pods(ns).Delete(context.Background(), "web-1", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		t.Fatal(err)
	}
	if pod := waitBound(t, c, ns, "web-3"); pod.Spec.NodeName != gone.Spec.NodeName {
		t.Errorf("web-3 bound to %s, want %s freed by web-1", pod.Spec.NodeName, gone.Spec.NodeName)
	}
}

func TestTopologySpreadMaxSkewOneOverThreeNodes(t *testing.T) {
	c, s := startScheduler(t)
	ns := c.Namespace(t)
	zones := map[string]string{"node-a": "zone-1", "node-b": "zone-2", "node-c": "zone-3"}
	for n, z := range zones {
		c.AddNode(t, n, map[string]string{corev1.LabelTopologyZone: z})
	}
	waitNodes(t, s, 3)
	// A pod already on node-a that the spread counts: a fair spread of 7 is then 3/3/2 at worst.
	existing := testPod("existing", "", "", map[string]string{"app": "spread"})
	existing.Spec.NodeName = "node-a"
	createPod(t, c, ns, existing)

	for i := range 8 {
		pod := testPod(fmt.Sprintf("spread-%d", i), "100m", "", map[string]string{"app": "spread"})
		// Only the spread keeps these apart: they prefer node-a strongly.
		pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 100,
				Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"node-a"}}}}}},
		}}
		pod.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
		}}
		createPod(t, c, ns, pod)
	}
	perNode := map[string]int{"node-a": 1}
	for i := range 8 {
		perNode[waitBound(t, c, ns, fmt.Sprintf("spread-%d", i)).Spec.NodeName]++
	}
	if perNode["node-a"] != 3 || perNode["node-b"] != 3 || perNode["node-c"] != 3 {
		t.Errorf("pods per node = %v, want 3 on each", perNode)
	}
}

func TestVolumeClaimsBindingModes(t *testing.T) {
	c, s := startScheduler(t)
	ns := c.Namespace(t)
	c.AddNode(t, "node-a", map[string]string{"rack": "r1"})
	c.AddNode(t, "node-b", map[string]string{"rack": "r2"})
	waitNodes(t, s, 2)
	ctx := context.Background()
	waitMode := storagev1.VolumeBindingWaitForFirstConsumer
	immediateMode := storagev1.VolumeBindingImmediate
	classes := []*storagev1.StorageClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "local-path"}, Provisioner: "skiff.dev/local-path", VolumeBindingMode: &waitMode,
			AllowedTopologies: []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{
				{Key: "rack", Values: []string{"r2"}}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "remote"}, Provisioner: "example.com/remote", VolumeBindingMode: &immediateMode},
	}
	for _, sc := range classes {
		if _, err := c.Clientset.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create storage class: %v", err)
		}
	}
	claim := func(name, class string) {
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{
				StorageClassName: ptr.To(class),
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		if _, err := c.Clientset.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create claim %s: %v", name, err)
		}
	}
	withClaim := func(name, claim string) *corev1.Pod {
		pod := testPod(name, "100m", "", nil)
		pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
		return pod
	}

	claim("data-local", "local-path")
	createPod(t, c, ns, withClaim("local", "data-local"))
	pod := waitBound(t, c, ns, "local")
	if pod.Spec.NodeName != "node-b" {
		t.Errorf("pod bound to %s, want node-b, the only one in the class's allowed topology", pod.Spec.NodeName)
	}
	pvc, err := c.Clientset.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-local", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pvc.Annotations["volume.kubernetes.io/selected-node"]; got != "node-b" {
		t.Errorf("claim annotation selected-node = %q, want node-b", got)
	}

	claim("data-remote", "remote")
	createPod(t, c, ns, withClaim("remote", "data-remote"))
	waitUnschedulable(t, c, ns, "remote", is("0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. "+
		"preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."))

	createPod(t, c, ns, withClaim("missing", "no-such-claim"))
	waitUnschedulable(t, c, ns, "missing", contains(`persistentvolumeclaim "no-such-claim" not found`))
	// The claim appearing retries the pod.
	claim("no-such-claim", "local-path")
	if pod := waitBound(t, c, ns, "missing"); pod.Spec.NodeName != "node-b" {
		t.Errorf("pod bound to %s, want node-b", pod.Spec.NodeName)
	}
}

func TestSchedulingGatesHoldPodsUntilRemoved(t *testing.T) {
	c, s := startScheduler(t)
	ns := c.Namespace(t)
	c.AddNode(t, "node-a", nil)
	waitNodes(t, s, 1)
	pod := testPod("gated", "100m", "", nil)
	pod.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
	createPod(t, c, ns, pod)
	// An ungated pod created after it is bound: by then the gated one has long been seen.
	createPod(t, c, ns, testPod("free", "100m", "", nil))
	waitBound(t, c, ns, "free")
	got, err := c.Clientset.CoreV1().Pods(ns).Get(context.Background(), "gated", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "" {
		t.Fatalf("gated pod bound to %s", got.Spec.NodeName)
	}
	got.Spec.SchedulingGates = nil
	if _, err := c.Clientset.CoreV1().Pods(ns).Update(context.Background(), got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("remove gates: %v", err)
	}
	waitBound(t, c, ns, "gated")
}
