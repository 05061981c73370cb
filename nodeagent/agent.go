// Package nodeagent is skiff's kubelet: it makes nodes of a machine. For each node it runs, it
// registers the Node (capacity, addresses, nodeInfo, conditions), keeps its status current and its Lease
// renewed, and runs the pods bound to it: one worker per pod gives the pod an address from the node's
// pod CIDR and a sandbox, runs its init containers in order and then its app containers, restarts them as
// the restart policy says with upstream's back-off, reports everything through pods/status as upstream's
// kubelet does, and on graceful deletion stops the pod and deletes it for good.
//
// The containers themselves run in a runtime.Runtime; the agent's logic is the same for every runtime.
// One agent can run many nodes in one process (simulated nodes, for tests and scale measurements): they
// share one watch of pods and one of nodes, so a thousand nodes cost two watches.
//
// The agent reaches the cluster only through its API. It keeps no state of its own across restarts but
// the restart back-off: pod addresses are recovered from the pods' status, and what runs from the runtime.
package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/skiffhq/skiff/nodeagent/runtime"
)

// Config configures an agent. The zero value of each optional field means its default.
type Config struct {
	// Client reaches the API server.
	Client kubernetes.Interface
	// Runtime runs the pods' containers, for every node of the agent.
	Runtime runtime.Runtime
	// NodeNames are the nodes the agent runs: one for a machine, any number of simulated ones.
	NodeNames []string
	// NodeIP is the nodes' InternalIP, and the pod IP of hostNetwork pods.
	NodeIP string
	// Capacity is each node's capacity, and its allocatable (nothing is reserved). Default: cpu 8,
	// memory 32Gi, pods 110, ephemeral-storage 100Gi.
	Capacity corev1.ResourceList
	// Labels are added to the nodes' own labels (hostname, os, arch).
	Labels map[string]string
	// NodeStatusUpdateFrequency is how often node status is computed and posted if it changed
	// (default 10s); NodeStatusReportFrequency is how often it is posted anyway (default 5m).
	NodeStatusUpdateFrequency time.Duration
	NodeStatusReportFrequency time.Duration
	// LeaseDuration is the nodes' Lease duration (default 40s); the Lease is renewed every quarter of it.
	LeaseDuration time.Duration
	// Logger receives the agent's logs.
	Logger logr.Logger
}

// Defaults of Config, as upstream's kubelet.
const (
	defaultStatusUpdateFrequency = 10 * time.Second
	defaultStatusReportFrequency = 5 * time.Minute
	defaultLeaseDuration         = 40 * time.Second
	// resyncInterval is how often a pod worker looks at its pod when nothing wakes it.
	resyncInterval = time.Minute
	// housekeepingInterval is how often the runtime is searched for pods the API no longer has.
	housekeepingInterval = time.Minute
)

// DefaultCapacity is a simulated node's capacity.
func DefaultCapacity() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("8"),
		corev1.ResourceMemory:           resource.MustParse("32Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
}

func (c *Config) setDefaults() error {
	if c.Client == nil || c.Runtime == nil {
		return errors.New("node agent: a client and a runtime are required")
	}
	if len(c.NodeNames) == 0 {
		return errors.New("node agent: no node to run")
	}
	seen := map[string]bool{}
	for _, n := range c.NodeNames {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			return fmt.Errorf("node name %q: %v", n, errs)
		}
		if seen[n] {
			return fmt.Errorf("node name %q given twice", n)
		}
		seen[n] = true
	}
	if _, err := netip.ParseAddr(c.NodeIP); err != nil {
		return fmt.Errorf("node IP %q: %w", c.NodeIP, err)
	}
	if c.Capacity == nil {
		c.Capacity = DefaultCapacity()
	}
	if c.NodeStatusUpdateFrequency <= 0 {
		c.NodeStatusUpdateFrequency = defaultStatusUpdateFrequency
	}
	if c.NodeStatusReportFrequency <= 0 {
		c.NodeStatusReportFrequency = defaultStatusReportFrequency
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = defaultLeaseDuration
	}
	if c.Logger.GetSink() == nil {
		c.Logger = logr.Discard()
	}
	return nil
}

// agent runs the nodes of one Config.
type agent struct {
	cfg   Config
	ctx   context.Context
	log   logr.Logger
	nodes map[string]*node
	info  corev1.NodeSystemInfo
	wg    sync.WaitGroup

	mu      sync.Mutex
	workers map[types.UID]*podWorker
}

// Run runs the agent's nodes until ctx is done. It returns nil when ctx ends, leaving the pods running
// as they are, or an error if cfg is unusable or the API server refuses the agent's credentials.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &agent{cfg: cfg, ctx: ctx, log: cfg.Logger, nodes: map[string]*node{}, workers: map[types.UID]*podWorker{},
		info: systemInfo(cfg.Runtime.Version())}
	if err := a.checkCredentials(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cfg.Client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	for _, name := range cfg.NodeNames {
		recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: name})
		a.nodes[name] = newNode(a, name, recorder)
	}
	// Every goroutine ends before the event broadcaster shuts down.
	defer func() {
		cancel()
		a.wg.Wait()
	}()

	podInformer, nodeInformer := a.informers(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.HasSynced, nodeInformer.HasSynced) {
		return nil
	}
	// Addresses pods already have are taken before any new pod gets one.
	for _, obj := range podInformer.GetStore().List() {
		pod := obj.(*corev1.Pod)
		if n := a.nodes[pod.Spec.NodeName]; n != nil && !pod.Spec.HostNetwork && pod.Status.PodIP != "" && !podTerminal(pod) {
			n.ips.Reserve(pod.UID, pod.Status.PodIP)
		}
	}
	unsubscribe := cfg.Runtime.Subscribe(a.containerEvent)
	defer unsubscribe()

	if _, err := nodeInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.nodeChanged,
		UpdateFunc: func(_, obj any) { a.nodeChanged(obj) },
		DeleteFunc: a.nodeDeleted,
	}); err != nil {
		return fmt.Errorf("watch nodes: %w", err)
	}
	podHandler, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.podChanged,
		UpdateFunc: func(_, obj any) { a.podChanged(obj) },
		DeleteFunc: a.podDeleted,
	})
	if err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	for _, n := range a.nodes {
		a.wg.Go(func() { n.runStatus(ctx) })
		a.wg.Go(func() { n.runLease(ctx) })
	}
	a.wg.Go(func() {
		if cache.WaitForCacheSync(ctx.Done(), podHandler.HasSynced) {
			a.housekeeping(ctx)
		}
	})
	<-ctx.Done()
	return nil
}

// checkCredentials makes sure the API server takes the agent's credentials before anything starts, so
// that wrong ones fail at once instead of in endless retries. Other errors (a server still starting)
// are retried.
func (a *agent) checkCredentials(ctx context.Context) error {
	delay := 200 * time.Millisecond
	for {
		_, err := a.cfg.Client.CoreV1().Nodes().Get(ctx, a.cfg.NodeNames[0], metav1.GetOptions{})
		switch {
		case err == nil || apierrors.IsNotFound(err):
			return nil
		case apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err):
			return fmt.Errorf("the API server refuses the node agent's credentials: %w", err)
		}
		a.log.Info("API server not reachable yet", "error", err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 7*time.Second)
	}
}

// informers start the watches of the agent's pods and nodes: of one node by name, or of all bound pods
// and all nodes when the agent runs several, dispatched by node name.
func (a *agent) informers(ctx context.Context) (pods, nodes cache.SharedIndexInformer) {
	podSelector := fields.OneTermNotEqualSelector("spec.nodeName", "").String()
	var nodeSelector string
	if len(a.cfg.NodeNames) == 1 {
		podSelector = fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeNames[0]).String()
		nodeSelector = fields.OneTermEqualSelector("metadata.name", a.cfg.NodeNames[0]).String()
	}
	podFactory := informers.NewSharedInformerFactoryWithOptions(a.cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = podSelector }),
		informers.WithTransform(stripManagedFields))
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(a.cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = nodeSelector }),
		informers.WithTransform(stripManagedFields))
	pods = podFactory.Core().V1().Pods().Informer()
	nodes = nodeFactory.Core().V1().Nodes().Informer()
	a.wg.Go(func() { pods.RunWithContext(ctx) })
	a.wg.Go(func() { nodes.RunWithContext(ctx) })
	return pods, nodes
}

// stripManagedFields drops what the agent never reads from cached objects, which matters with
// thousands of pods.
func stripManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

func (a *agent) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	n := a.nodes[pod.Spec.NodeName]
	if n == nil {
		return
	}
	a.mu.Lock()
	w := a.workers[pod.UID]
	if w == nil {
		w = newPodWorker(a, n, pod)
		a.workers[pod.UID] = w
		a.wg.Go(func() { w.run(a.ctx) })
	}
	a.mu.Unlock()
	w.update(pod)
}

func (a *agent) podDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	w := a.workers[pod.UID]
	a.mu.Unlock()
	if w != nil {
		w.markGone()
	}
}

// removeWorker forgets a worker that is done.
func (a *agent) removeWorker(w *podWorker) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.workers[w.uid] == w {
		delete(a.workers, w.uid)
	}
}

// containerEvent wakes the worker of the pod whose container changed.
func (a *agent) containerEvent(ev runtime.ContainerEvent) {
	a.mu.Lock()
	w := a.workers[ev.PodUID]
	a.mu.Unlock()
	if w != nil {
		w.poke()
	}
}

// wakeNode wakes every worker of a node, when the node changed in a way pods wait for (its pod CIDR).
func (a *agent) wakeNode(n *node) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.workers {
		if w.node == n {
			w.poke()
		}
	}
}

func (a *agent) nodeChanged(obj any) {
	nodeObj, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	if n := a.nodes[nodeObj.Name]; n != nil {
		n.observed(nodeObj)
	}
}

func (a *agent) nodeDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	nodeObj, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	if n := a.nodes[nodeObj.Name]; n != nil {
		n.deleted(nodeObj)
	}
}

// housekeeping removes from the runtime, now and every housekeepingInterval, the pods of the agent's
// nodes that the API no longer has (deleted while the agent was down, or by force).
func (a *agent) housekeeping(ctx context.Context) {
	ticker := time.NewTicker(housekeepingInterval)
	defer ticker.Stop()
	for {
		if err := a.removeOrphans(ctx); err != nil && ctx.Err() == nil {
			a.log.Error(err, "housekeeping")
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (a *agent) removeOrphans(ctx context.Context) error {
	sandboxes, err := a.cfg.Runtime.ListPodSandboxes(ctx)
	if err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	var errs []error
	for _, s := range sandboxes {
		n := a.nodes[s.NodeName]
		if n == nil {
			continue
		}
		a.mu.Lock()
		_, known := a.workers[s.PodUID]
		a.mu.Unlock()
		if known {
			continue
		}
		a.log.V(1).Info("removing a pod the API no longer has", "pod", s.Namespace+"/"+s.Name, "uid", s.PodUID, "node", s.NodeName)
		if err := a.cfg.Runtime.StopPodSandbox(ctx, s.PodUID); err != nil {
			errs = append(errs, fmt.Errorf("stop sandbox of %s/%s: %w", s.Namespace, s.Name, err))
			continue
		}
		if err := a.cfg.Runtime.RemovePodSandbox(ctx, s.PodUID); err != nil {
			errs = append(errs, fmt.Errorf("remove sandbox of %s/%s: %w", s.Namespace, s.Name, err))
		}
		n.ips.Release(s.PodUID)
	}
	return errors.Join(errs...)
}

func podTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}
