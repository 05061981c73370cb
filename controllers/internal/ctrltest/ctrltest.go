// Package ctrltest gives a reconciler's integration test what it needs: a real in-process API server, a
// controller-runtime manager running only the reconcilers under test, and the node's part of a pod's
// life (Running, Ready, Succeeded, Failed) done the way upstream's controller integration tests do it,
// by writing pod status, so that a controller is proven without any node agent.
package ctrltest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/skiffhq/skiff/testenv"
)

// Cluster is a running API server with the reconcilers under test.
type Cluster struct {
	Env *testenv.Env
	// Client reads and writes straight through the API (no cache), for the test's own checks.
	Client client.Client
	// Clientset is a client-go clientset of the server.
	Clientset kubernetes.Interface
	// Manager runs the reconcilers; it has been started.
	Manager manager.Manager

	nextIP atomic.Uint32
}

// Start runs an API server for t and a manager with the reconcilers the setups add, and stops both
// when t ends.
func Start(t *testing.T, setups ...func(manager.Manager) error) *Cluster {
	t.Helper()
	env := testenv.New(t)
	mgr, err := ctrl.NewManager(env.Config, manager.Options{
		Scheme:                 scheme.Scheme,
		Logger:                 testr.NewWithOptions(t, testr.Options{Verbosity: 0}),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	for _, setup := range setups {
		if err := setup(mgr); err != nil {
			t.Fatalf("set up reconciler: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("manager did not stop within 30s")
		}
	})
	c, err := client.New(env.Config, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return &Cluster{Env: env, Client: c, Clientset: cs, Manager: mgr}
}

// Eventually polls cond every 50ms until it holds, failing t with what after timeout. An error from
// cond is kept as the last reason and polling goes on.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true,
		func(ctx context.Context) (bool, error) {
			ok, err := cond(ctx)
			// The poll's own deadline cancelling the last call is not the reason worth reporting.
			if err != nil && ctx.Err() == nil {
				last = err
				return false, nil
			}
			return ok, nil
		})
	if err != nil {
		t.Fatalf("%s: not within %v (last error: %v)", what, timeout, last)
	}
}

// Namespace creates a namespace with a generated name and returns the name.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	ns, err := c.Clientset.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// AddNode creates a Ready, schedulable Node with 4 cpus, 16Gi of memory and room for 110 pods, and the
// given labels.
func (c *Cluster) AddNode(t testing.TB, name string, nodeLabels map[string]string) *corev1.Node {
	t.Helper()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	l := map[string]string{corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64"}
	for k, v := range nodeLabels {
		l[k] = v
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
	ctx := context.Background()
	created, err := c.Clientset.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	status := corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("192.0.2.%d", c.nextIP.Add(1)%250+1)}},
	}
	// Controllers (nodeipam) may write the node between its create and its status: read it again.
	var updated *corev1.Node
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		created.Status = status
		updated, err = c.Clientset.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if latest, getErr := c.Clientset.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); getErr == nil {
				created = latest
			}
		}
		return err
	})
	if err != nil {
		t.Fatalf("node %s status: %v", name, err)
	}
	return updated
}

// MarkPodsReady does a node's part for every pod of ns matching selector that is not terminating and not
// yet Ready: the pod is Running with all containers running and ready, and has an IP. It returns how
// many pods it changed.
func (c *Cluster) MarkPodsReady(t testing.TB, ns string, selector labels.Selector) int {
	t.Helper()
	pods, err := c.Clientset.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	n := 0
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp != nil || isReady(pod) {
			continue
		}
		// A controller may delete or change the pod between the list and the write: not the test's failure.
		if err := c.SetPodRunning(pod, true); apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			continue
		} else if err != nil {
			t.Fatalf("mark pod %s ready: %v", pod.Name, err)
		}
		n++
	}
	return n
}

// SetPodRunning makes pod Running, with its containers ready or not, and gives it an IP.
func (c *Cluster) SetPodRunning(pod *corev1.Pod, ready bool) error {
	now := metav1.Now()
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod.Status.Phase = corev1.PodRunning
	if pod.Status.PodIP == "" {
		n := c.nextIP.Add(1)
		pod.Status.PodIP = fmt.Sprintf("10.42.%d.%d", (n/250)%250, n%250+1)
		pod.Status.PodIPs = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	if pod.Status.StartTime == nil {
		pod.Status.StartTime = &now
	}
	pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: status, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: status, LastTransitionTime: now},
	}
	pod.Status.ContainerStatuses = nil
	for _, ct := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: ct.Name, Image: ct.Image, ImageID: ct.Image, Ready: ready, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, err := c.Clientset.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
	return err
}

// SetPodFinished ends pod as its node would when its containers exit: Succeeded for exit code 0, Failed
// otherwise.
func (c *Cluster) SetPodFinished(pod *corev1.Pod, exitCode int32) error {
	now := metav1.Now()
	pod.Status.Phase = corev1.PodSucceeded
	reason := "Completed"
	if exitCode != 0 {
		pod.Status.Phase, reason = corev1.PodFailed, "Error"
	}
	if pod.Status.StartTime == nil {
		pod.Status.StartTime = &now
	}
	pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "PodCompleted", LastTransitionTime: now},
		{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "PodCompleted", LastTransitionTime: now},
	}
	pod.Status.ContainerStatuses = nil
	for _, ct := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: ct.Name, Image: ct.Image, ImageID: ct.Image, Started: ptr.To(false),
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: exitCode, Reason: reason, StartedAt: *pod.Status.StartTime, FinishedAt: now}},
		})
	}
	_, err := c.Clientset.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
	return err
}

func isReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
