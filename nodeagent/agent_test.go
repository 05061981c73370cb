package nodeagent_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/nodeagent"
	"github.com/skiffhq/skiff/nodeagent/runtime/simulated"
	"github.com/skiffhq/skiff/testenv"
)

const (
	timeout = 30 * time.Second
	nodeIP  = "192.0.2.10"
)

// agentRun is an agent started by a test.
type agentRun struct {
	cancel context.CancelFunc
	done   chan error
}

// startAgent runs an agent of nodes on rt until stop is called or the test ends.
func startAgent(t *testing.T, client kubernetes.Interface, rt *simulated.Runtime, nodes ...string) *agentRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &agentRun{cancel: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- nodeagent.Run(ctx, nodeagent.Config{
			Client: client, Runtime: rt, NodeNames: nodes, NodeIP: nodeIP,
			NodeStatusUpdateFrequency: time.Second, LeaseDuration: 4 * time.Second,
			Logger: testr.NewWithOptions(t, testr.Options{Verbosity: 1}),
		})
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends the agent and checks that it returned cleanly.
func (r *agentRun) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("agent: %v", err)
		}
	case <-time.After(timeout):
		t.Errorf("agent did not stop within %v", timeout)
	}
}

// eventually polls cond every 50ms until it holds, failing t with what after timeout.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		if err != nil {
			last = err
			return false, nil
		}
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %v (last error: %v)", what, timeout, last)
	}
}

// setPodCIDR gives a node its pod CIDR, as the nodeipam controller would, once the node exists.
func setPodCIDR(t *testing.T, client kubernetes.Interface, node, cidr string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"podCIDR":%q,"podCIDRs":[%q]}}`, cidr, cidr)
	eventually(t, "node "+node+" gets its pod CIDR", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return err == nil, err
	})
}

func newPod(name, node string, policy corev1.RestartPolicy, command ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:      node,
			RestartPolicy: policy,
			Containers:    []corev1.Container{{Name: "main", Image: "busybox", Command: command}},
		},
	}
}

func createPod(t *testing.T, client kubernetes.Interface, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	created, err := client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
	return created
}

// waitPod waits until the pod satisfies cond and returns it.
func waitPod(t *testing.T, client kubernetes.Interface, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, "pod "+name+" "+what, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod = p
		return cond(p), nil
	})
	return pod
}

func phaseIs(phase corev1.PodPhase) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool { return p.Status.Phase == phase }
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func ready(pod *corev1.Pod) bool {
	c := condition(pod, corev1.PodReady)
	return pod.Status.Phase == corev1.PodRunning && c != nil && c.Status == corev1.ConditionTrue
}

func TestNodeRegistersReadyAndRenewsItsLease(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	startAgent(t, client, simulated.New(simulated.Options{}), "solo")
	ctx := context.Background()

	var node *corev1.Node
	eventually(t, "node solo Ready", func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, "solo", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		node = n
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	for k, v := range map[string]string{corev1.LabelHostname: "solo", corev1.LabelOSStable: "linux"} {
		if node.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, node.Labels[k], v)
		}
	}
	if node.Labels[corev1.LabelArchStable] == "" {
		t.Errorf("no %s label", corev1.LabelArchStable)
	}
	want := nodeagent.DefaultCapacity()
	for name, q := range want {
		if got := node.Status.Capacity[name]; got.Cmp(q) != 0 {
			t.Errorf("capacity %s = %s, want %s", name, got.String(), q.String())
		}
		if got := node.Status.Allocatable[name]; got.Cmp(q) != 0 {
			t.Errorf("allocatable %s = %s, want %s", name, got.String(), q.String())
		}
	}
	conditions := map[corev1.NodeConditionType]string{}
	for _, c := range node.Status.Conditions {
		conditions[c.Type] = string(c.Status) + "/" + c.Reason
		if c.LastHeartbeatTime.IsZero() || c.LastTransitionTime.IsZero() {
			t.Errorf("condition %s lacks times: %+v", c.Type, c)
		}
	}
	for typ, want := range map[corev1.NodeConditionType]string{
		corev1.NodeReady:          "True/KubeletReady",
		corev1.NodeMemoryPressure: "False/KubeletHasSufficientMemory",
		corev1.NodeDiskPressure:   "False/KubeletHasNoDiskPressure",
		corev1.NodePIDPressure:    "False/KubeletHasSufficientPID",
	} {
		if conditions[typ] != want {
			t.Errorf("condition %s = %q, want %q", typ, conditions[typ], want)
		}
	}
	addrs := map[corev1.NodeAddressType]string{}
	for _, a := range node.Status.Addresses {
		addrs[a.Type] = a.Address
	}
	if addrs[corev1.NodeInternalIP] != nodeIP || addrs[corev1.NodeHostName] != "solo" {
		t.Errorf("addresses = %v", node.Status.Addresses)
	}
	info := node.Status.NodeInfo
	if info.ContainerRuntimeVersion != "simulated://0.1" || info.OperatingSystem != "linux" || info.Architecture == "" ||
		info.KubeletVersion == "" || info.MachineID == "" || info.SystemUUID == "" {
		t.Errorf("nodeInfo = %+v", info)
	}
	if node.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
		t.Errorf("kubelet port = %d", node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	}

	leases := client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	var first time.Time
	eventually(t, "lease of solo", func(ctx context.Context) (bool, error) {
		l, err := leases.Get(ctx, "solo", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if ptr.Deref(l.Spec.HolderIdentity, "") != "solo" || ptr.Deref(l.Spec.LeaseDurationSeconds, 0) != 4 || l.Spec.RenewTime == nil {
			return false, fmt.Errorf("lease spec %+v", l.Spec)
		}
		if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" || l.OwnerReferences[0].UID != node.UID {
			return false, fmt.Errorf("lease owners %+v", l.OwnerReferences)
		}
		first = l.Spec.RenewTime.Time
		return true, nil
	})
	eventually(t, "lease of solo renewed", func(ctx context.Context) (bool, error) {
		l, err := leases.Get(ctx, "solo", metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime.After(first), err
	})

	// A deleted Node comes back: the agent registers it again.
	if err := client.CoreV1().Nodes().Delete(ctx, "solo", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node solo registered again", func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, "solo", metav1.GetOptions{})
		return err == nil && n.UID != node.UID && len(n.Status.Conditions) > 0, err
	})
}

func TestPodsRunAsTheirSpecSays(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	startAgent(t, client, simulated.New(simulated.Options{}), "worker")
	setPodCIDR(t, client, "worker", "10.42.7.0/24")
	cidr := netip.MustParsePrefix("10.42.7.0/24")
	ctx := context.Background()

	t.Run("a long-running pod is Running and Ready with an address of the node's CIDR", func(t *testing.T) {
		createPod(t, client, newPod("web", "worker", corev1.RestartPolicyAlways, "serve"))
		pod := waitPod(t, client, "web", "Ready", ready)
		ip, err := netip.ParseAddr(pod.Status.PodIP)
		if err != nil || !cidr.Contains(ip) || ip == cidr.Addr() || ip == cidr.Addr().Next() {
			t.Errorf("pod IP %q not a pod address of %s", pod.Status.PodIP, cidr)
		}
		if len(pod.Status.PodIPs) != 1 || pod.Status.PodIPs[0].IP != pod.Status.PodIP {
			t.Errorf("podIPs = %v", pod.Status.PodIPs)
		}
		if pod.Status.HostIP != nodeIP || len(pod.Status.HostIPs) != 1 || pod.Status.StartTime == nil {
			t.Errorf("hostIP %q hostIPs %v startTime %v", pod.Status.HostIP, pod.Status.HostIPs, pod.Status.StartTime)
		}
		if pod.Status.QOSClass != corev1.PodQOSBestEffort {
			t.Errorf("qosClass = %q, want it untouched", pod.Status.QOSClass)
		}
		for _, typ := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized,
			corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled} {
			if c := condition(pod, typ); c == nil || c.Status != corev1.ConditionTrue {
				t.Errorf("condition %s = %+v, want True", typ, c)
			}
		}
		cs := pod.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Running == nil || !cs[0].Ready || !ptr.Deref(cs[0].Started, false) ||
			!strings.HasPrefix(cs[0].ContainerID, "simulated://") || cs[0].ImageID == "" || cs[0].Image != "busybox" {
			t.Errorf("container statuses = %+v", cs)
		}
	})

	t.Run("true under Never succeeds", func(t *testing.T) {
		createPod(t, client, newPod("ok", "worker", corev1.RestartPolicyNever, "true"))
		pod := waitPod(t, client, "ok", "Succeeded", phaseIs(corev1.PodSucceeded))
		term := pod.Status.ContainerStatuses[0].State.Terminated
		if term == nil || term.ExitCode != 0 || term.Reason != "Completed" {
			t.Errorf("terminated = %+v", term)
		}
		if c := condition(pod, corev1.PodReady); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "PodCompleted" {
			t.Errorf("Ready = %+v, want False PodCompleted", c)
		}
	})

	t.Run("false under Never fails", func(t *testing.T) {
		createPod(t, client, newPod("bad", "worker", corev1.RestartPolicyNever, "false"))
		pod := waitPod(t, client, "bad", "Failed", phaseIs(corev1.PodFailed))
		if term := pod.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 1 || term.Reason != "Error" {
			t.Errorf("terminated = %+v", term)
		}
	})

	t.Run("false under Always restarts and backs off", func(t *testing.T) {
		created := createPod(t, client, newPod("crash", "worker", corev1.RestartPolicyAlways, "false"))
		pod := waitPod(t, client, "crash", "in CrashLoopBackOff", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
		})
		cs := pod.Status.ContainerStatuses[0]
		want := fmt.Sprintf("back-off 10s restarting failed container=main pod=crash_default(%s)", created.UID)
		if cs.State.Waiting.Message != want {
			t.Errorf("waiting message = %q, want %q", cs.State.Waiting.Message, want)
		}
		if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
			t.Errorf("restartCount %d lastState %+v", cs.RestartCount, cs.LastTerminationState)
		}
		if pod.Status.Phase != corev1.PodRunning || cs.Ready {
			t.Errorf("phase %s ready %v, want Running and not ready", pod.Status.Phase, cs.Ready)
		}
	})

	for _, policy := range []corev1.RestartPolicy{corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure} {
		t.Run("sleep runs, then succeeds under "+string(policy), func(t *testing.T) {
			name := "sleep-" + strings.ToLower(string(policy))
			createPod(t, client, newPod(name, "worker", policy, "sleep", "1"))
			running := waitPod(t, client, name, "Running", phaseIs(corev1.PodRunning))
			done := waitPod(t, client, name, "Succeeded", phaseIs(corev1.PodSucceeded))
			term := done.Status.ContainerStatuses[0].State.Terminated
			if term == nil || term.ExitCode != 0 || term.FinishedAt.Sub(running.Status.ContainerStatuses[0].State.Running.StartedAt.Time) < time.Second {
				t.Errorf("terminated = %+v after running since %v", term, running.Status.ContainerStatuses[0].State.Running.StartedAt)
			}
		})
	}

	t.Run("init containers run first, in order", func(t *testing.T) {
		pod := newPod("inits", "worker", corev1.RestartPolicyAlways, "serve")
		pod.Spec.InitContainers = []corev1.Container{
			{Name: "first", Image: "busybox", Command: []string{"sleep", "1"}},
			{Name: "second", Image: "busybox", Command: []string{"true"}},
		}
		createPod(t, client, pod)
		pending := waitPod(t, client, "inits", "initializing", func(p *corev1.Pod) bool {
			c := condition(p, corev1.PodInitialized)
			return c != nil && c.Status == corev1.ConditionFalse && len(p.Status.InitContainerStatuses) == 2 &&
				p.Status.InitContainerStatuses[0].State.Running != nil
		})
		if pending.Status.Phase != corev1.PodPending {
			t.Errorf("phase while initializing = %s", pending.Status.Phase)
		}
		if c := condition(pending, corev1.PodInitialized); c.Reason != "ContainersNotInitialized" || c.Message != "containers with incomplete status: [first second]" {
			t.Errorf("Initialized while initializing = %+v", c)
		}
		if w := pending.Status.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != "PodInitializing" {
			t.Errorf("app container while initializing = %+v", pending.Status.ContainerStatuses[0].State)
		}
		done := waitPod(t, client, "inits", "Ready", ready)
		first, second := done.Status.InitContainerStatuses[0], done.Status.InitContainerStatuses[1]
		if first.State.Terminated == nil || second.State.Terminated == nil || !first.Ready || !second.Ready {
			t.Fatalf("init statuses = %+v", done.Status.InitContainerStatuses)
		}
		if second.State.Terminated.StartedAt.Before(&first.State.Terminated.FinishedAt) {
			t.Errorf("second init container started %v before the first ended %v", second.State.Terminated.StartedAt, first.State.Terminated.FinishedAt)
		}
		if app := done.Status.ContainerStatuses[0].State.Running; app == nil || app.StartedAt.Before(&second.State.Terminated.FinishedAt) {
			t.Errorf("app container %+v started before init containers ended", done.Status.ContainerStatuses[0].State)
		}
	})

	t.Run("a failed init container fails a Never pod", func(t *testing.T) {
		pod := newPod("init-fails", "worker", corev1.RestartPolicyNever, "serve")
		pod.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "busybox", Command: []string{"false"}}}
		createPod(t, client, pod)
		failed := waitPod(t, client, "init-fails", "Failed", phaseIs(corev1.PodFailed))
		if failed.Status.ContainerStatuses[0].State.Running != nil {
			t.Errorf("app container ran after a failed init container: %+v", failed.Status.ContainerStatuses[0])
		}
	})

	t.Run("a hostNetwork pod has the node's address", func(t *testing.T) {
		pod := newPod("host", "worker", corev1.RestartPolicyAlways, "serve")
		pod.Spec.HostNetwork = true
		createPod(t, client, pod)
		if got := waitPod(t, client, "host", "Ready", ready); got.Status.PodIP != nodeIP {
			t.Errorf("pod IP = %q, want the node's %s", got.Status.PodIP, nodeIP)
		}
	})

	t.Run("readiness gates hold Ready until their condition is True", func(t *testing.T) {
		pod := newPod("gated", "worker", corev1.RestartPolicyAlways, "serve")
		pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
		createPod(t, client, pod)
		gated := waitPod(t, client, "gated", "Running and held by its gate", func(p *corev1.Pod) bool {
			c := condition(p, corev1.PodReady)
			return p.Status.Phase == corev1.PodRunning && c != nil && c.Reason == "ReadinessGatesNotReady"
		})
		if c := condition(gated, corev1.ContainersReady); c == nil || c.Status != corev1.ConditionTrue {
			t.Errorf("ContainersReady = %+v", c)
		}
		patch := `{"status":{"conditions":[{"type":"example.com/lb","status":"True"}]}}`
		if _, err := client.CoreV1().Pods("default").Patch(ctx, "gated", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
			t.Fatal(err)
		}
		got := waitPod(t, client, "gated", "Ready", ready)
		if c := condition(got, "example.com/lb"); c == nil || c.Status != corev1.ConditionTrue {
			t.Errorf("the gate's condition was not kept: %+v", got.Status.Conditions)
		}
	})

	t.Run("activeDeadlineSeconds fails the pod", func(t *testing.T) {
		pod := newPod("deadline", "worker", corev1.RestartPolicyAlways, "serve")
		pod.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
		createPod(t, client, pod)
		failed := waitPod(t, client, "deadline", "Failed", phaseIs(corev1.PodFailed))
		if failed.Status.Reason != "DeadlineExceeded" || failed.Status.Message != "Pod was active on the node longer than the specified deadline" {
			t.Errorf("reason %q message %q", failed.Status.Reason, failed.Status.Message)
		}
		if term := failed.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 137 {
			t.Errorf("container after the deadline = %+v", failed.Status.ContainerStatuses[0].State)
		}
	})

	t.Run("graceful deletion stops the pod and removes it", func(t *testing.T) {
		createPod(t, client, newPod("doomed", "worker", corev1.RestartPolicyAlways, "serve"))
		waitPod(t, client, "doomed", "Ready", ready)
		if err := client.CoreV1().Pods("default").Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "pod doomed removed", func(ctx context.Context) (bool, error) {
			_, err := client.CoreV1().Pods("default").Get(ctx, "doomed", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
	})
}

func TestThreeSimulatedNodesShareOneAgent(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	names := []string{"sim-0", "sim-1", "sim-2"}
	startAgent(t, client, simulated.New(simulated.Options{Latency: 10 * time.Millisecond}), names...)
	setPodCIDR(t, client, "sim-0", "10.42.0.0/24")
	setPodCIDR(t, client, "sim-1", "10.42.1.0/24")

	for i, name := range names[:2] {
		createPod(t, client, newPod("on-"+name, name, corev1.RestartPolicyAlways, "serve"))
		pod := waitPod(t, client, "on-"+name, "Ready", ready)
		if want := netip.MustParsePrefix(fmt.Sprintf("10.42.%d.0/24", i)); !want.Contains(netip.MustParseAddr(pod.Status.PodIP)) {
			t.Errorf("pod on %s has IP %s, not of %s", name, pod.Status.PodIP, want)
		}
	}

	// sim-2 has no pod CIDR yet: its pod waits, then runs once the CIDR comes.
	createPod(t, client, newPod("on-sim-2", "sim-2", corev1.RestartPolicyAlways, "serve"))
	waiting := waitPod(t, client, "on-sim-2", "waiting for the node's CIDR", func(p *corev1.Pod) bool {
		c := condition(p, corev1.PodReadyToStartContainers)
		return c != nil && c.Status == corev1.ConditionFalse && len(p.Status.ContainerStatuses) == 1
	})
	if w := waiting.Status.ContainerStatuses[0].State.Waiting; waiting.Status.Phase != corev1.PodPending || w == nil || w.Reason != "ContainerCreating" || waiting.Status.PodIP != "" {
		t.Errorf("waiting pod: phase %s ip %q state %+v", waiting.Status.Phase, waiting.Status.PodIP, waiting.Status.ContainerStatuses[0].State)
	}
	setPodCIDR(t, client, "sim-2", "10.42.2.0/24")
	if pod := waitPod(t, client, "on-sim-2", "Ready", ready); !strings.HasPrefix(pod.Status.PodIP, "10.42.2.") {
		t.Errorf("pod on sim-2 has IP %s", pod.Status.PodIP)
	}

	ctx := context.Background()
	for _, name := range names {
		eventually(t, "lease of "+name, func(ctx context.Context) (bool, error) {
			_, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
			return err == nil, err
		})
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 3 {
		t.Fatalf("nodes: %d, %v", len(nodes.Items), err)
	}
}

func TestRestartedAgentAdoptsRunningPods(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	first := startAgent(t, client, simulated.New(simulated.Options{}), "keeper")
	setPodCIDR(t, client, "keeper", "10.42.3.0/24")

	createPod(t, client, newPod("steady", "keeper", corev1.RestartPolicyAlways, "serve"))
	createPod(t, client, newPod("crasher", "keeper", corev1.RestartPolicyAlways, "false"))
	before := waitPod(t, client, "steady", "Ready", ready)
	crashing := waitPod(t, client, "crasher", "restarted", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	first.stop(t)

	// The new agent's runtime knows nothing: as a real runtime would, it finds the pods still running.
	startAgent(t, client, simulated.New(simulated.Options{}), "keeper")
	createPod(t, client, newPod("newcomer", "keeper", corev1.RestartPolicyAlways, "serve"))
	newcomer := waitPod(t, client, "newcomer", "Ready", ready)
	if newcomer.Status.PodIP == before.Status.PodIP {
		t.Errorf("a new pod got the address %s of an adopted one", newcomer.Status.PodIP)
	}
	// The new agent forgot the back-off, as upstream's does: it restarts the crashing container at once,
	// counting on from the restarts the old one made. That it did proves it synced the adopted pods.
	counted := crashing.Status.ContainerStatuses[0].RestartCount
	waitPod(t, client, "crasher", "restarted by the new agent", func(p *corev1.Pod) bool {
		return p.Status.ContainerStatuses[0].RestartCount == counted+1
	})
	after := waitPod(t, client, "steady", "Ready", ready)
	b, a := before.Status.ContainerStatuses[0], after.Status.ContainerStatuses[0]
	if a.ContainerID != b.ContainerID || a.RestartCount != b.RestartCount || !a.State.Running.StartedAt.Equal(&b.State.Running.StartedAt) {
		t.Errorf("container after restart %+v, before %+v: it was restarted", a, b)
	}
	if after.Status.PodIP != before.Status.PodIP {
		t.Errorf("pod IP after restart %s, before %s", after.Status.PodIP, before.Status.PodIP)
	}

	// The adopted pod is the new agent's to stop.
	if err := client.CoreV1().Pods("default").Delete(context.Background(), "steady", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "adopted pod removed", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Pods("default").Get(ctx, "steady", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

func TestPodDeletedWhileTheAgentWasDownIsRemovedFromTheRuntime(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	// One runtime across both agents, as a real runtime outlives its agent.
	rt := simulated.New(simulated.Options{})
	first := startAgent(t, client, rt, "lonely")
	setPodCIDR(t, client, "lonely", "10.42.4.0/24")
	createPod(t, client, newPod("orphan", "lonely", corev1.RestartPolicyAlways, "serve"))
	waitPod(t, client, "orphan", "Ready", ready)
	first.stop(t)

	if err := client.CoreV1().Pods("default").Delete(context.Background(), "orphan", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	startAgent(t, client, rt, "lonely")
	eventually(t, "orphan's sandbox removed", func(ctx context.Context) (bool, error) {
		sandboxes, err := rt.ListPodSandboxes(ctx)
		return len(sandboxes) == 0, err
	})
}
