package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// Budgets and anchors of the controller benchmarks.
const (
	schedulerBudgetPodsPerSec = 1000
	schedulerAnchor           = "kube-scheduler's perf thresholds: 600-800 pods/s"
	benchNamespace            = "bench"
)

type schedulerReport struct {
	Nodes      int     `json:"nodes"`
	Pods       int     `json:"pods"`
	PodsPerSec float64 `json:"podsPerSecond"`
	// Seconds is from the first bind to the last.
	Seconds          float64 `json:"seconds"`
	BudgetPodsPerSec float64 `json:"budgetPodsPerSecond"`
	Anchor           string  `json:"anchor"`
	// RunningSeconds is from the start of the server (now with its controllers) and the agent, with
	// every pod bound, until every pod is Running.
	RunningSeconds float64 `json:"runningSeconds"`
	// Memory of the server (with its controllers) and of the agent holding every simulated node, once
	// all pods run.
	ServerRSSMiB float64 `json:"serverRssMiB"`
	ServerPSSMiB float64 `json:"serverPssMiB"`
	AgentRSSMiB  float64 `json:"agentRssMiB"`
	PodsRunning  int     `json:"podsRunning"`
}

type rolloutReport struct {
	Nodes    int     `json:"nodes"`
	Replicas int     `json:"replicas"`
	Seconds  float64 `json:"seconds"`
}

// cluster is a server and a simulated agent of the benchmark.
type cluster struct {
	bin      string
	server   *server
	agent    *process
	agentDir string
	nodes    int
	client   *kubernetes.Clientset
	cfg      *rest.Config
}

// startCluster starts a server with the given extra flags and an agent with n simulated nodes, and
// waits for every node to be Ready.
func startCluster(ctx context.Context, bin string, nodes int, serverFlags ...string) (*cluster, error) {
	s, _, err := startServer(ctx, bin, serverFlags...)
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, server: s, nodes: nodes}
	if c.cfg, err = clientcmd.BuildConfigFromFlags("", s.kubeconfig()); err != nil {
		c.stop()
		return nil, err
	}
	if c.client, err = newClient(c.cfg); err != nil {
		c.stop()
		return nil, err
	}
	if c.agentDir, err = os.MkdirTemp("", "skiff-bench-agent-"); err != nil {
		c.stop()
		return nil, err
	}
	if err := c.startAgent(ctx); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// startAgent starts the agent of the cluster's simulated nodes (the same nodes each time) and waits
// until they are all Ready (at once when they were before).
func (c *cluster) startAgent(ctx context.Context) error {
	var err error
	c.agent, err = startProcess(c.bin, "agent", "--server", "https://127.0.0.1:"+strconv.Itoa(c.server.port),
		"--token-file", filepath.Join(c.server.dataDir, "node-token"), "--simulate", "--nodes", strconv.Itoa(c.nodes),
		"--node-name", "sim", "--data-dir", c.agentDir)
	if err != nil {
		return err
	}
	err = poll(ctx, 5*time.Minute, func() (bool, error) {
		list, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, n := range list.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= c.nodes, nil
	})
	if err != nil {
		return fmt.Errorf("%d nodes ready: %w\nagent log:\n%s", c.nodes, err, tail(c.agent.logs.String()))
	}
	return nil
}

// stopAgent stops the agent; its nodes stay in the API.
func (c *cluster) stopAgent() error {
	if c.agent == nil {
		return nil
	}
	err := c.agent.stop()
	c.agent = nil
	return err
}

func (c *cluster) stop() error {
	errs := []error{c.stopAgent()}
	if c.agentDir != "" {
		os.RemoveAll(c.agentDir)
	}
	return errors.Join(append(errs, c.server.stop())...)
}

// benchScheduler measures the scheduler as kube-scheduler's scheduler_perf does, the measure its
// thresholds (the anchor) come from: the nodes are API objects (registered and then left by the
// simulated agent, so nothing starts the pods being placed), `pods` pods exist before the scheduler
// starts, and the scheduler runs alone (`skiff controllers --controllers scheduler`); binds are timed
// from the first to the last. The same cluster then runs as a user's would, the server with all its
// controllers and the agent back: the time until every pod runs, and the memory then, are reported.
func benchScheduler(ctx context.Context, bin string, nodes, pods, workers int) (schedulerReport, error) {
	r := schedulerReport{Nodes: nodes, Pods: pods, BudgetPodsPerSec: schedulerBudgetPodsPerSec, Anchor: schedulerAnchor}
	c, err := startCluster(ctx, bin, nodes, "--disable", "agent,controllers")
	if err != nil {
		return r, err
	}
	defer c.stop()
	if err := c.stopAgent(); err != nil {
		return r, fmt.Errorf("stop agent: %w", err)
	}
	if err := createPods(ctx, c.cfg, pods, workers); err != nil {
		return r, err
	}

	list, err := c.client.CoreV1().Pods(benchNamespace).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return r, err
	}
	ctrl, err := startProcess(bin, "controllers", "--kubeconfig", c.server.kubeconfig(), "--controllers", "scheduler")
	if err != nil {
		return r, err
	}
	first, last, err := waitPods(ctx, c.client.CoreV1().Pods(benchNamespace), list.ResourceVersion, pods, 5*time.Minute, "bound",
		func(p *corev1.Pod) bool { return p.Spec.NodeName != "" })
	if stopErr := ctrl.stop(); err == nil && stopErr != nil {
		err = fmt.Errorf("stop controllers: %w", stopErr)
	}
	if err != nil {
		return r, fmt.Errorf("%w\ncontrollers log:\n%s", err, tail(ctrl.logs.String()))
	}
	r.Seconds = last.Sub(first).Seconds()
	r.PodsPerSec = float64(pods) / r.Seconds
	fmt.Fprintf(os.Stderr, "bench: scheduler bound %d pods on %d nodes in %.1f s: %.0f pods/s\n", pods, nodes, r.Seconds, r.PodsPerSec)

	// The same cluster as a user runs it: the server with its controllers, and the agent.
	if err := c.server.process.stop(); err != nil {
		return r, fmt.Errorf("restart server after binding %d pods at %.0f/s: %w\nserver log:\n%s", pods, r.PodsPerSec, err, tail(c.server.logs.String()))
	}
	// The default cluster CIDR has room for 256 nodes (a /24 each), as upstream's and k3s's.
	if _, err := c.server.start(ctx, bin, "--disable", "agent", "--cluster-cidr", clusterCIDR(nodes)); err != nil {
		return r, err
	}
	// No pod has run yet: the agent was gone before they were bound.
	if list, err = c.client.CoreV1().Pods(benchNamespace).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return r, err
	}
	start := time.Now()
	if err := c.startAgent(ctx); err != nil {
		return r, err
	}
	_, last, err = waitPods(ctx, c.client.CoreV1().Pods(benchNamespace), list.ResourceVersion, pods, 5*time.Minute, "running",
		func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if err != nil {
		return r, fmt.Errorf("%w\nagent log:\n%s", err, tail(c.agent.logs.String()))
	}
	r.PodsRunning = pods
	r.RunningSeconds = last.Sub(start).Seconds()
	fmt.Fprintf(os.Stderr, "bench: the agent ran %d bound pods on %d nodes in %.1f s\n", pods, nodes, r.RunningSeconds)
	// Let the informers and caches settle after the burst of status updates.
	time.Sleep(10 * time.Second)
	sm, err := c.server.memory()
	if err != nil {
		return r, err
	}
	am, err := c.agent.memory()
	if err != nil {
		return r, err
	}
	r.ServerRSSMiB, r.ServerPSSMiB, r.AgentRSSMiB = mib(sm.RSS), mib(sm.PSS), mib(am.RSS)
	return r, nil
}

// clusterCIDR is a pod range with a /24 for each of n nodes, in 10.128.0.0/9 (apart from the service
// range 10.43.0.0/16).
func clusterCIDR(n int) string {
	bits := 8 // 256 nodes
	for 1<<bits < n && bits < 15 {
		bits++
	}
	return fmt.Sprintf("10.128.0.0/%d", 24-bits)
}

// createPods creates n small pods in the bench namespace from `workers` clients.
func createPods(ctx context.Context, cfg *rest.Config, n, workers int) error {
	client, err := newClient(cfg)
	if err != nil {
		return err
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}},
		metav1.CreateOptions{}); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		c, err := newClient(cfg)
		if err != nil {
			return err
		}
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Labels: map[string]string{"app": "bench"}},
					Spec:       podSpec("bench:v1"),
				}
				if _, err := c.CoreV1().Pods(benchNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					cancel(fmt.Errorf("create pod %s: %w", pod.Name, err))
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

func podSpec(image string) corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{
		Name: "app", Image: image,
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("10Mi")}},
	}}}
}

// waitPods reads pod events from rv on until n distinct pods are seen as match says, and returns when
// the first and the last were seen so. A watch the server ends is resumed from the last event.
func waitPods(ctx context.Context, pods typedcorev1.PodInterface, rv string, n int, timeout time.Duration, what string, match func(*corev1.Pod) bool) (first, last time.Time, err error) {
	seen := map[types.UID]bool{}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for len(seen) < n {
		w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			return first, last, fmt.Errorf("watch pods after %d %s: %w", len(seen), what, err)
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				w.Stop()
				return first, last, fmt.Errorf("pod watch after %d %s: %v", len(seen), what, ev.Object)
			}
			pod, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				continue
			}
			rv = pod.ResourceVersion
			if seen[pod.UID] || !match(pod) {
				continue
			}
			seen[pod.UID] = true
			last = time.Now()
			if first.IsZero() {
				first = last
			}
			if len(seen) == n {
				break
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return first, last, fmt.Errorf("%d of %d pods %s within %v", len(seen), n, what, timeout)
		}
	}
	return first, last, nil
}

// benchRollout rolls a Deployment of `replicas` pods to a new image on `nodes` simulated nodes and
// times it from the template change to the Deployment reporting every replica updated and available.
func benchRollout(ctx context.Context, bin string, nodes, replicas int) (rolloutReport, error) {
	r := rolloutReport{Nodes: nodes, Replicas: replicas}
	c, err := startCluster(ctx, bin, nodes, "--disable", "agent")
	if err != nil {
		return r, err
	}
	defer c.stop()
	deploys := c.client.AppsV1().Deployments(metav1.NamespaceDefault)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "rollout"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "rollout"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "rollout"}},
				Spec:       podSpec("bench:v1"),
			},
		},
	}
	if _, err := deploys.Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return r, err
	}
	complete := func(generation int64) func() (bool, error) {
		return func() (bool, error) {
			d, err := deploys.Get(ctx, "rollout", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			s := d.Status
			return d.Generation >= generation && s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == int32(replicas) &&
				s.AvailableReplicas == int32(replicas) && s.Replicas == int32(replicas), nil
		}
	}
	if err := poll(ctx, 5*time.Minute, complete(1)); err != nil {
		return r, fmt.Errorf("deployment available: %w", err)
	}
	start := time.Now()
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"bench:v2"}]}}}}`)
	updated, err := deploys.Patch(ctx, "rollout", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return r, err
	}
	if err := poll(ctx, 10*time.Minute, complete(updated.Generation)); err != nil {
		return r, fmt.Errorf("rollout: %w", err)
	}
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}

// poll calls cond every 100 ms until it holds; the last error is reported on timeout.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail is the end of a long log.
func tail(s string) string {
	const n = 4000
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
