package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/nodeagent/runtime"
)

// startRetryDelay is how long a container that failed to start waits before the next try.
const startRetryDelay = 10 * time.Second

// podWorker runs one pod on one node: a goroutine woken by changes of the pod in the API and by its
// containers' events in the runtime, and at least every resyncInterval. Each sync reads the pod and the
// runtime, decides (computePodActions, generatePodStatus), acts, and writes the status if it changed:
// the runtime-independent part of upstream's kubelet.
type podWorker struct {
	agent *agent
	node  *node
	uid   types.UID
	log   logr.Logger
	wake  chan struct{}

	mu   sync.Mutex
	pod  *corev1.Pod // newest known: from the watch or from our own writes
	gone bool        // the API no longer has the pod

	// Owned by the worker's goroutine.
	backoff     restartBackoff
	startErrors map[string]startError
	reported    map[string]string // back-off messages already told in events, by container
	restored    bool
	deleted     bool // the pod was deleted for good; the watch will say it is gone
	firstSeen   time.Time
}

// startError is a container that failed to start, shown as waiting until the next try.
type startError struct {
	waiting corev1.ContainerStateWaiting
	retryAt time.Time
}

func newPodWorker(a *agent, n *node, pod *corev1.Pod) *podWorker {
	return &podWorker{
		agent: a, node: n, uid: pod.UID, pod: pod,
		log:         a.log.WithValues("pod", pod.Namespace+"/"+pod.Name, "node", n.name),
		wake:        make(chan struct{}, 1),
		backoff:     restartBackoff{},
		startErrors: map[string]startError{},
		reported:    map[string]string{},
	}
}

// update records a newer version of the pod and wakes the worker.
func (w *podWorker) update(pod *corev1.Pod) {
	w.observe(pod)
	w.poke()
}

// observe records a newer version of the pod, unless a newer one is known.
func (w *podWorker) observe(pod *corev1.Pod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pod == nil || !olderVersion(pod.ResourceVersion, w.pod.ResourceVersion) {
		w.pod = pod
	}
}

// markGone records that the API no longer has the pod and wakes the worker.
func (w *podWorker) markGone() {
	w.mu.Lock()
	w.gone = true
	w.mu.Unlock()
	w.poke()
}

func (w *podWorker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run syncs the pod until it is gone from the API and from the runtime, or ctx ends.
func (w *podWorker) run(ctx context.Context) {
	var errDelay time.Duration
	for {
		next, done, err := w.sync(ctx)
		if ctx.Err() != nil {
			return
		}
		if done {
			w.agent.removeWorker(w)
			return
		}
		if err != nil {
			errDelay = min(max(2*errDelay, 500*time.Millisecond), 30*time.Second)
			w.log.Error(err, "sync pod", "retryIn", errDelay.String())
			next = errDelay
		} else {
			errDelay = 0
		}
		if next <= 0 || next > resyncInterval {
			next = resyncInterval
		}
		timer := time.NewTimer(next)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-w.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// sync does one round of the pod's life. It returns when to look again, and whether the worker is done.
func (w *podWorker) sync(ctx context.Context) (time.Duration, bool, error) {
	w.mu.Lock()
	pod, gone := w.pod, w.gone
	w.mu.Unlock()
	rt := w.agent.cfg.Runtime
	if gone {
		err := w.removeFromRuntime(ctx, pod)
		return 0, err == nil, err
	}
	if w.deleted {
		return resyncInterval, false, nil
	}
	if !w.restored {
		if r, ok := rt.(runtime.Restorer); ok {
			if err := r.RestorePod(ctx, pod); err != nil {
				return 0, false, fmt.Errorf("restore pod from its status: %w", err)
			}
		}
		w.restored = true
	}
	now := time.Now()
	if w.firstSeen.IsZero() {
		w.firstSeen = now
	}
	switch {
	case pod.DeletionTimestamp != nil:
		return w.terminate(ctx, pod, now)
	case podTerminal(pod):
		return w.syncTerminal(ctx, pod, now, nil)
	}
	if _, exceeded := activeDeadline(pod, w.startTime(pod), now); exceeded {
		w.log.V(1).Info("pod exceeded its active deadline")
		return w.syncTerminal(ctx, pod, now, &podEviction{Reason: reasonDeadlineExceeded, Message: messageDeadlineExceeded})
	}
	return w.syncRunning(ctx, pod, now)
}

// startTime is when the agent took the pod on: status.startTime once written.
func (w *podWorker) startTime(pod *corev1.Pod) time.Time {
	if pod.Status.StartTime != nil {
		return pod.Status.StartTime.Time
	}
	return w.firstSeen
}

// view is the part of the pod's view that does not depend on the runtime.
func (w *podWorker) view(pod *corev1.Pod, now time.Time) podView {
	return podView{Pod: pod, Now: now, RuntimeType: w.agent.cfg.Runtime.Type(), NodeIP: w.agent.cfg.NodeIP,
		StartTime: w.startTime(pod)}
}

// syncRunning brings a pod that should run towards its spec.
func (w *podWorker) syncRunning(ctx context.Context, pod *corev1.Pod, now time.Time) (time.Duration, bool, error) {
	rt := w.agent.cfg.Runtime
	view := w.view(pod, now)
	podIP, err := w.podIP(pod)
	if err != nil {
		return 0, false, err
	}
	if podIP == "" {
		// No pod CIDR yet: the pod stays Pending, its containers ContainerCreating, until the node's
		// update wakes the worker.
		w.log.V(1).Info("waiting for the node's pod CIDR")
		return resyncInterval, false, w.writeStatus(ctx, pod, generatePodStatus(view))
	}
	if err := w.ensureSandbox(ctx, pod, podIP); err != nil {
		return 0, false, err
	}
	view.PodIP, view.SandboxReady = podIP, true
	if vr, ok := rt.(runtime.VolumeRefresher); ok {
		if err := vr.RefreshVolumes(ctx, pod); err != nil {
			// The containers keep what they have; the next sync tries again.
			w.log.Error(err, "Refresh volumes")
		}
	}
	actions, instances, err := w.startContainers(ctx, pod)
	if err != nil {
		return 0, false, err
	}
	view.Now = time.Now()
	view.Containers, view.Waiting = instances, actions.Waiting
	status := generatePodStatus(view)
	if status.Phase == corev1.PodSucceeded || status.Phase == corev1.PodFailed {
		// Done on its own: the sandbox goes and the address is given back.
		if err := rt.StopPodSandbox(ctx, w.uid); err != nil {
			return 0, false, fmt.Errorf("stop sandbox: %w", err)
		}
		w.node.ips.Release(w.uid)
		if view.Containers, err = rt.ListContainers(ctx, w.uid); err != nil {
			return 0, false, fmt.Errorf("list containers: %w", err)
		}
		view.SandboxReady = false
		status = generatePodStatus(view)
	}
	w.reportBackoff(pod, actions.Waiting)
	if err := w.writeStatus(ctx, pod, status); err != nil {
		return 0, false, err
	}
	next := actions.RetryAt
	for _, t := range []time.Time{nextProbeChange(pod, instances, view.Now), deadlineOf(pod, w.startTime(pod))} {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if next.IsZero() {
		return resyncInterval, false, nil
	}
	return time.Until(next), false, nil
}

// podIP is the pod's address: the node's for a hostNetwork pod, else one of the node's pod CIDR, or
// empty while the node has none.
func (w *podWorker) podIP(pod *corev1.Pod) (string, error) {
	if pod.Spec.HostNetwork {
		return w.agent.cfg.NodeIP, nil
	}
	cidr := w.node.podCIDR()
	if cidr == "" {
		return "", nil
	}
	ip, err := w.node.ips.Allocate(w.uid, cidr)
	if err != nil {
		return "", fmt.Errorf("pod address: %w", err)
	}
	return ip, nil
}

// ensureSandbox makes sure the pod has a ready sandbox with podIP. A sandbox that stopped or has another
// address is replaced, and the containers it had count as ended.
func (w *podWorker) ensureSandbox(ctx context.Context, pod *corev1.Pod, podIP string) error {
	rt := w.agent.cfg.Runtime
	sb, err := rt.PodSandboxStatus(ctx, w.uid)
	if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("sandbox status: %w", err)
	}
	if sb != nil && sb.State == runtime.SandboxReady && sb.IP == podIP {
		return nil
	}
	if sb != nil {
		if err := rt.StopPodSandbox(ctx, w.uid); err != nil {
			return fmt.Errorf("stop stale sandbox: %w", err)
		}
	}
	if u, ok := rt.(runtime.PodCIDRUpdater); ok && !pod.Spec.HostNetwork {
		if err := u.UpdatePodCIDR(ctx, w.node.podCIDR()); err != nil {
			return fmt.Errorf("node pod network: %w", err)
		}
	}
	if err := rt.RunPodSandbox(ctx, pod, podIP); err != nil {
		return fmt.Errorf("run sandbox: %w", err)
	}
	return nil
}

// startContainers starts what computePodActions asks for, again and again while that makes progress
// (a chain of init containers that exit at once runs in one sync), and returns the last decision with
// the instances it was made from.
func (w *podWorker) startContainers(ctx context.Context, pod *corev1.Pod) (podActions, []runtime.ContainerStatus, error) {
	rt := w.agent.cfg.Runtime
	rounds := len(pod.Spec.InitContainers) + len(pod.Spec.Containers) + 1
	var actions podActions
	var instances []runtime.ContainerStatus
	for round := 0; ; round++ {
		var err error
		if instances, err = rt.ListContainers(ctx, w.uid); err != nil {
			return actions, nil, fmt.Errorf("list containers: %w", err)
		}
		now := time.Now()
		actions = computePodActions(pod, instances, w.backoff, now)
		if round == rounds {
			break
		}
		acted := false
		for _, id := range actions.Kill {
			if err := w.stopContainer(ctx, pod, instances, id, terminationGrace(pod)); err != nil {
				return actions, nil, err
			}
			acted = true
		}
		for _, s := range actions.Start {
			if e, ok := w.startErrors[s.Container.Name]; ok && now.Before(e.retryAt) {
				continue
			}
			if err := w.startContainer(ctx, pod, s); err != nil {
				return actions, nil, err
			}
			acted = true
		}
		if !acted {
			break
		}
	}
	stale := staleInstances(instances)
	for _, id := range stale {
		if err := rt.RemoveContainer(ctx, id); err != nil {
			return actions, nil, fmt.Errorf("remove old container %s: %w", id, err)
		}
	}
	instances = slices.DeleteFunc(instances, func(c runtime.ContainerStatus) bool { return slices.Contains(stale, c.ID) })

	for name, e := range w.startErrors {
		if !slices.ContainsFunc(actions.Start, func(s containerStart) bool { return s.Container.Name == name }) {
			delete(w.startErrors, name)
			continue
		}
		actions.Waiting[name] = e.waiting
		actions.retryAt(e.retryAt)
	}
	return actions, instances, nil
}

// startContainer starts one container. A failure to start is kept to be shown as the container's waiting
// reason and retried later; only the end of ctx is an error.
func (w *podWorker) startContainer(ctx context.Context, pod *corev1.Pod, s containerStart) error {
	name := s.Container.Name
	ref := containerRef(pod, name)
	_, err := w.agent.cfg.Runtime.StartContainer(ctx, pod, s.Container, s.Attempt)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		waiting := corev1.ContainerStateWaiting{Reason: reasonRunContainerError, Message: err.Error()}
		var ce *runtime.ContainerError
		if errors.As(err, &ce) {
			waiting = corev1.ContainerStateWaiting{Reason: ce.Reason, Message: ce.Message}
		}
		w.startErrors[name] = startError{waiting: waiting, retryAt: time.Now().Add(startRetryDelay)}
		w.node.recorder.Eventf(ref, corev1.EventTypeWarning, "Failed", "Error: %s", waiting.Reason)
		w.log.V(1).Info("container did not start", "container", name, "error", err.Error())
		return nil
	}
	delete(w.startErrors, name)
	if s.Last != nil {
		w.backoff.restarted(backoffKey(name, s.Container.Image), *s.Last)
	}
	w.node.recorder.Eventf(ref, corev1.EventTypeNormal, "Created", "Created container: %s", name)
	w.node.recorder.Eventf(ref, corev1.EventTypeNormal, "Started", "Started container %s", name)
	return nil
}

// stopContainer stops the running instance id, telling so in an event.
func (w *podWorker) stopContainer(ctx context.Context, pod *corev1.Pod, instances []runtime.ContainerStatus, id string, grace time.Duration) error {
	i := slices.IndexFunc(instances, func(c runtime.ContainerStatus) bool { return c.ID == id })
	if i < 0 || instances[i].State == runtime.ContainerExited {
		return nil
	}
	name := instances[i].Name
	w.node.recorder.Eventf(containerRef(pod, name), corev1.EventTypeNormal, "Killing", "Stopping container %s", name)
	if err := w.agent.cfg.Runtime.StopContainer(ctx, id, grace); err != nil {
		return fmt.Errorf("stop container %s: %w", name, err)
	}
	return nil
}

// killPod stops the pod's containers with grace, app containers first and sidecars last, then its
// sandbox, and gives its address back.
func (w *podWorker) killPod(ctx context.Context, pod *corev1.Pod, grace time.Duration) error {
	rt := w.agent.cfg.Runtime
	instances, err := rt.ListContainers(ctx, w.uid)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	sidecars := map[string]bool{}
	for i := range pod.Spec.InitContainers {
		sidecars[pod.Spec.InitContainers[i].Name] = restartable(&pod.Spec.InitContainers[i])
	}
	slices.SortStableFunc(instances, func(a, b runtime.ContainerStatus) int {
		switch {
		case sidecars[a.Name] == sidecars[b.Name]:
			return 0
		case sidecars[a.Name]:
			return 1
		default:
			return -1
		}
	})
	for _, c := range instances {
		if c.State != runtime.ContainerExited {
			if err := w.stopContainer(ctx, pod, instances, c.ID, grace); err != nil {
				return err
			}
		}
	}
	if err := rt.StopPodSandbox(ctx, w.uid); err != nil {
		return fmt.Errorf("stop sandbox: %w", err)
	}
	w.node.ips.Release(w.uid)
	return nil
}

// syncTerminal makes sure nothing of a finished pod runs and its status says so; eviction, if set,
// fails the pod with its reason.
func (w *podWorker) syncTerminal(ctx context.Context, pod *corev1.Pod, now time.Time, eviction *podEviction) (time.Duration, bool, error) {
	if err := w.killPod(ctx, pod, terminationGrace(pod)); err != nil {
		return 0, false, err
	}
	instances, err := w.agent.cfg.Runtime.ListContainers(ctx, w.uid)
	if err != nil {
		return 0, false, fmt.Errorf("list containers: %w", err)
	}
	view := w.view(pod, now)
	view.Containers, view.Terminal, view.Eviction = instances, true, eviction
	return resyncInterval, false, w.writeStatus(ctx, pod, generatePodStatus(view))
}

// terminate ends a pod being deleted, as upstream's kubelet and status manager: its containers stop
// with the deletion's grace period, its final status (a terminal phase) is written, the runtime forgets
// it, and the pod is deleted for good, with a UID precondition so that a new pod of the same name is
// never touched.
func (w *podWorker) terminate(ctx context.Context, pod *corev1.Pod, now time.Time) (time.Duration, bool, error) {
	rt := w.agent.cfg.Runtime
	if err := w.killPod(ctx, pod, deletionGrace(pod)); err != nil {
		return 0, false, err
	}
	instances, err := rt.ListContainers(ctx, w.uid)
	if err != nil {
		return 0, false, fmt.Errorf("list containers: %w", err)
	}
	view := w.view(pod, now)
	view.Containers, view.Terminal = instances, true
	if err := w.writeStatus(ctx, pod, generatePodStatus(view)); err != nil {
		return 0, false, err
	}
	if err := rt.RemovePodSandbox(ctx, w.uid); err != nil {
		return 0, false, fmt.Errorf("remove sandbox: %w", err)
	}
	err = w.agent.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      metav1.NewUIDPreconditions(string(w.uid)),
	})
	// Not found or another UID: the pod is gone already.
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return 0, false, fmt.Errorf("delete pod: %w", err)
	}
	w.deleted = true
	return resyncInterval, false, nil
}

// removeFromRuntime forgets a pod the API no longer has.
func (w *podWorker) removeFromRuntime(ctx context.Context, pod *corev1.Pod) error {
	if err := w.killPod(ctx, pod, 0); err != nil {
		return err
	}
	if err := w.agent.cfg.Runtime.RemovePodSandbox(ctx, w.uid); err != nil {
		return fmt.Errorf("remove sandbox: %w", err)
	}
	return nil
}

// writeStatus writes status through pods/status if it differs from what the API has. The patch holds
// only what changed, so conditions others own (PodScheduled, DisruptionTarget) are left alone, and the
// pod's UID, so that it never applies to a new pod of the same name.
func (w *podWorker) writeStatus(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) error {
	if podStatusEqual(&pod.Status, &status) {
		return nil
	}
	patch, err := podStatusPatch(pod, status)
	if err != nil {
		return fmt.Errorf("status patch: %w", err)
	}
	updated, err := w.agent.cfg.Client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return nil // the watch will say it is gone
	}
	if err != nil {
		return fmt.Errorf("update status: %w", err)
	}
	w.observe(updated)
	return nil
}

// podStatusPatch is the strategic merge patch from the pod's status to status, with the pod's UID.
func podStatusPatch(pod *corev1.Pod, status corev1.PodStatus) ([]byte, error) {
	raw, err := twoWayPatch(&corev1.Pod{Status: pod.Status}, &corev1.Pod{Status: status}, corev1.Pod{})
	if err != nil {
		return nil, err
	}
	var patch map[string]any
	if err := json.Unmarshal(raw, &patch); err != nil {
		return nil, err
	}
	patch["metadata"] = map[string]any{"uid": pod.UID}
	return json.Marshal(patch)
}

// reportBackoff tells, in a BackOff event, of each container that newly waits to restart.
func (w *podWorker) reportBackoff(pod *corev1.Pod, waiting map[string]corev1.ContainerStateWaiting) {
	for name := range w.reported {
		if _, ok := waiting[name]; !ok {
			delete(w.reported, name)
		}
	}
	for name, wt := range waiting {
		if wt.Reason != reasonCrashLoopBackOff || w.reported[name] == wt.Message {
			continue
		}
		w.reported[name] = wt.Message
		w.node.recorder.Eventf(containerRef(pod, name), corev1.EventTypeWarning, "BackOff",
			"Back-off restarting failed container %s in pod %s", name, podDescription(pod))
	}
}

// containerRef names a container of pod in events, as upstream's kubelet does.
func containerRef(pod *corev1.Pod, name string) *corev1.ObjectReference {
	path := fmt.Sprintf("spec.containers{%s}", name)
	if slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == name }) {
		path = fmt.Sprintf("spec.initContainers{%s}", name)
	}
	return &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
		UID: pod.UID, FieldPath: path}
}

// activeDeadline is when the pod's activeDeadlineSeconds run out, counted from start, and whether they
// have by now.
func activeDeadline(pod *corev1.Pod, start, now time.Time) (time.Time, bool) {
	at := deadlineOf(pod, start)
	return at, !at.IsZero() && !now.Before(at)
}

func deadlineOf(pod *corev1.Pod, start time.Time) time.Time {
	if pod.Spec.ActiveDeadlineSeconds == nil || start.IsZero() {
		return time.Time{}
	}
	return start.Add(time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second)
}

// terminationGrace is the pod's terminationGracePeriodSeconds (default 30).
func terminationGrace(pod *corev1.Pod) time.Duration {
	if s := pod.Spec.TerminationGracePeriodSeconds; s != nil && *s >= 0 {
		return time.Duration(*s) * time.Second
	}
	return time.Duration(corev1.DefaultTerminationGracePeriodSeconds) * time.Second
}

// deletionGrace is the grace period the pod's deletion gave it.
func deletionGrace(pod *corev1.Pod) time.Duration {
	if s := pod.DeletionGracePeriodSeconds; s != nil && *s >= 0 {
		return time.Duration(*s) * time.Second
	}
	return terminationGrace(pod)
}
