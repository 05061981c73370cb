// Package simulated is a container runtime in which nothing runs: pods get sandboxes and containers
// get IDs, states and exit codes, as kwok's fake nodes do, so that controllers, the scheduler and the
// node agent's own logic can be proven, and measured on a thousand nodes, on any machine.
//
// A container behaves as its command says (spec.containers[].command; args are ignored):
//
//	["true"]           exits 0 at once
//	["false"]          exits 1 at once
//	["sleep", "N"]     runs N seconds (N as sleep(1) takes it: 1.5, 2m, ...), then exits 0; a bad N exits 1
//	anything else      runs until stopped
//
// The program is matched by its base name, so "/bin/sleep" is "sleep". Stopping a container is immediate
// and reports what a real runtime reports for a process that ignored SIGTERM and was killed: exit code
// 137, reason "Error". The grace period is not waited out: simulated processes have nothing to clean up.
//
// One Runtime may serve any number of nodes. It keeps its state in memory only; when the agent restarts
// with a new Runtime, RestorePod rebuilds each pod from the status the API holds, so that running pods
// are adopted as a real runtime would find them, still running, not restarted.
package simulated

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/nodeagent/runtime"
)

const (
	// Type prefixes container IDs: "simulated://<id>".
	Type = "simulated"
	// Version is the runtime's version as nodes report it.
	Version = "simulated://0.1"

	// killedExitCode is what a process killed with SIGKILL exits with (128+9).
	killedExitCode = 137
)

// Options configure a Runtime.
type Options struct {
	// Latency is how long a container takes to start; zero starts it at once.
	Latency time.Duration
}

// Runtime is the simulated runtime. The zero value is not usable: call New.
type Runtime struct {
	latency time.Duration

	mu         sync.Mutex
	pods       map[types.UID]*simPod
	containers map[string]*simContainer
	subs       runtime.Subscribers
}

type simPod struct {
	sandbox    runtime.Sandbox
	containers map[string]*simContainer
}

type simContainer struct {
	status runtime.ContainerStatus
	// exitAfter is how long the process runs once started; forever if negative.
	exitAfter time.Duration
	exitCode  int32
	message   string
	timer     *time.Timer
}

var (
	_ runtime.Runtime  = (*Runtime)(nil)
	_ runtime.Restorer = (*Runtime)(nil)
)

// New returns an empty simulated runtime.
func New(opts Options) *Runtime {
	return &Runtime{
		latency:    opts.Latency,
		pods:       map[types.UID]*simPod{},
		containers: map[string]*simContainer{},
	}
}

// Type implements runtime.Runtime.
func (r *Runtime) Type() string { return Type }

// Version implements runtime.Runtime.
func (r *Runtime) Version() string { return Version }

// RunPodSandbox implements runtime.Runtime.
func (r *Runtime) RunPodSandbox(_ context.Context, pod *corev1.Pod, podIP string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pods[pod.UID]
	if p == nil {
		p = &simPod{containers: map[string]*simContainer{}}
		r.pods[pod.UID] = p
	} else if p.sandbox.State == runtime.SandboxReady {
		return nil
	}
	p.sandbox = runtime.Sandbox{PodUID: pod.UID, Namespace: pod.Namespace, Name: pod.Name, NodeName: pod.Spec.NodeName,
		IP: podIP, State: runtime.SandboxReady, CreatedAt: time.Now()}
	return nil
}

// StopPodSandbox implements runtime.Runtime.
func (r *Runtime) StopPodSandbox(_ context.Context, podUID types.UID) error {
	var events []runtime.ContainerEvent
	r.mu.Lock()
	if p := r.pods[podUID]; p != nil {
		for _, c := range p.containers {
			if r.exitLocked(c, killedExitCode, runtime.ReasonError, "") {
				events = append(events, runtime.ContainerEvent{Type: runtime.ContainerStopped, PodUID: podUID, ContainerID: c.status.ID})
			}
		}
		p.sandbox.State = runtime.SandboxNotReady
	}
	r.mu.Unlock()
	r.emit(events...)
	return nil
}

// RemovePodSandbox implements runtime.Runtime.
func (r *Runtime) RemovePodSandbox(_ context.Context, podUID types.UID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pods[podUID]
	if p == nil {
		return nil
	}
	for id, c := range p.containers {
		if c.timer != nil {
			c.timer.Stop()
		}
		delete(r.containers, id)
	}
	delete(r.pods, podUID)
	return nil
}

// PodSandboxStatus implements runtime.Runtime.
func (r *Runtime) PodSandboxStatus(_ context.Context, podUID types.UID) (*runtime.Sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pods[podUID]
	if p == nil {
		return nil, fmt.Errorf("sandbox of pod %s: %w", podUID, runtime.ErrNotFound)
	}
	s := p.sandbox
	return &s, nil
}

// ListPodSandboxes implements runtime.Runtime.
func (r *Runtime) ListPodSandboxes(context.Context) ([]runtime.Sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]runtime.Sandbox, 0, len(r.pods))
	for _, p := range r.pods {
		out = append(out, p.sandbox)
	}
	return out, nil
}

// StartContainer implements runtime.Runtime. With a latency configured the instance is Created for that
// long before it runs.
func (r *Runtime) StartContainer(ctx context.Context, pod *corev1.Pod, container *corev1.Container, attempt int32) (string, error) {
	exitAfter, exitCode, message := behaviour(container.Command)
	c := &simContainer{
		status: runtime.ContainerStatus{
			ID: newID(), PodUID: pod.UID, Name: container.Name, Attempt: attempt,
			Image: container.Image, ImageRef: imageRef(container.Image),
			State: runtime.ContainerCreated, CreatedAt: time.Now(),
		},
		exitAfter: exitAfter, exitCode: exitCode, message: message,
	}
	r.mu.Lock()
	p := r.pods[pod.UID]
	if p == nil || p.sandbox.State != runtime.SandboxReady {
		r.mu.Unlock()
		return "", &runtime.ContainerError{Reason: "CreateContainerError",
			Message: fmt.Sprintf("sandbox of pod %s/%s is not ready", pod.Namespace, pod.Name)}
	}
	p.containers[c.status.ID] = c
	r.containers[c.status.ID] = c
	r.mu.Unlock()

	if r.latency > 0 {
		t := time.NewTimer(r.latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			r.RemoveContainer(context.Background(), c.status.ID)
			return "", fmt.Errorf("start container %s: %w", container.Name, ctx.Err())
		}
	}

	r.mu.Lock()
	if r.containers[c.status.ID] != c || c.status.State != runtime.ContainerCreated {
		// Removed or stopped while it was being created.
		r.mu.Unlock()
		return c.status.ID, nil
	}
	c.status.State = runtime.ContainerRunning
	c.status.StartedAt = time.Now()
	events := []runtime.ContainerEvent{{Type: runtime.ContainerStarted, PodUID: pod.UID, ContainerID: c.status.ID}}
	if r.scheduleExitLocked(c, c.status.StartedAt) {
		events = append(events, runtime.ContainerEvent{Type: runtime.ContainerStopped, PodUID: pod.UID, ContainerID: c.status.ID})
	}
	r.mu.Unlock()
	r.emit(events...)
	return c.status.ID, nil
}

// scheduleExitLocked makes a running c exit when its process would, counting from startedAt. It
// reports whether c exited at once.
func (r *Runtime) scheduleExitLocked(c *simContainer, startedAt time.Time) bool {
	if c.exitAfter < 0 {
		return false
	}
	remaining := time.Until(startedAt.Add(c.exitAfter))
	if remaining <= 0 {
		r.exitLocked(c, c.exitCode, runtime.ExitReason(c.exitCode), c.message)
		c.status.FinishedAt = startedAt.Add(c.exitAfter)
		return true
	}
	id, podUID := c.status.ID, c.status.PodUID
	c.timer = time.AfterFunc(remaining, func() {
		r.mu.Lock()
		exited := r.containers[id] == c && r.exitLocked(c, c.exitCode, runtime.ExitReason(c.exitCode), c.message)
		r.mu.Unlock()
		if exited {
			r.emit(runtime.ContainerEvent{Type: runtime.ContainerStopped, PodUID: podUID, ContainerID: id})
		}
	})
	return false
}

// exitLocked ends c if it runs (or is being created), reporting whether it did.
func (r *Runtime) exitLocked(c *simContainer, code int32, reason, message string) bool {
	if c.status.State == runtime.ContainerExited {
		return false
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	now := time.Now()
	if c.status.StartedAt.IsZero() {
		c.status.StartedAt = now
	}
	c.status.State = runtime.ContainerExited
	c.status.FinishedAt = now
	c.status.ExitCode = code
	c.status.Reason = reason
	c.status.Message = message
	return true
}

// StopContainer implements runtime.Runtime: the instance ends at once with exit code 137.
func (r *Runtime) StopContainer(_ context.Context, id string, _ time.Duration) error {
	r.mu.Lock()
	c := r.containers[id]
	stopped := c != nil && r.exitLocked(c, killedExitCode, runtime.ReasonError, "")
	r.mu.Unlock()
	if stopped {
		r.emit(runtime.ContainerEvent{Type: runtime.ContainerStopped, PodUID: c.status.PodUID, ContainerID: id})
	}
	return nil
}

// RemoveContainer implements runtime.Runtime.
func (r *Runtime) RemoveContainer(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.containers[id]
	if c == nil {
		return nil
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	delete(r.containers, id)
	if p := r.pods[c.status.PodUID]; p != nil {
		delete(p.containers, id)
	}
	return nil
}

// ListContainers implements runtime.Runtime.
func (r *Runtime) ListContainers(_ context.Context, podUID types.UID) ([]runtime.ContainerStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pods[podUID]
	if p == nil {
		return nil, nil
	}
	out := make([]runtime.ContainerStatus, 0, len(p.containers))
	for _, c := range p.containers {
		out = append(out, c.status)
	}
	return out, nil
}

// Subscribe implements runtime.Runtime.
func (r *Runtime) Subscribe(fn func(runtime.ContainerEvent)) func() { return r.subs.Subscribe(fn) }

func (r *Runtime) emit(events ...runtime.ContainerEvent) { r.subs.Publish(events...) }

// RestorePod implements runtime.Restorer: the pod's sandbox and its containers' current and previous
// instances are rebuilt from the pod's status, if the status shows that this runtime ran them.
func (r *Runtime) RestorePod(_ context.Context, pod *corev1.Pod) error {
	specs := map[string]*corev1.Container{}
	for i := range pod.Spec.InitContainers {
		specs[pod.Spec.InitContainers[i].Name] = &pod.Spec.InitContainers[i]
	}
	for i := range pod.Spec.Containers {
		specs[pod.Spec.Containers[i].Name] = &pod.Spec.Containers[i]
	}
	var restored []*simContainer
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, st := range statuses {
		spec := specs[st.Name]
		if spec == nil {
			continue
		}
		current := st.State.Running != nil || st.State.Terminated != nil
		if c := restoreInstance(pod.UID, spec, st.State, st.ContainerID, st.Image, st.ImageID, st.RestartCount); c != nil && current {
			restored = append(restored, c)
		}
		last := st.RestartCount
		if current {
			last--
		}
		if t := st.LastTerminationState.Terminated; t != nil && last >= 0 {
			if c := restoreInstance(pod.UID, spec, st.LastTerminationState, t.ContainerID, st.Image, st.ImageID, last); c != nil {
				restored = append(restored, c)
			}
		}
	}
	if len(restored) == 0 {
		return nil
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pods[pod.UID] != nil {
		return nil
	}
	created := time.Now()
	if pod.Status.StartTime != nil {
		created = pod.Status.StartTime.Time
	}
	state := runtime.SandboxReady
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		state = runtime.SandboxNotReady
	}
	p := &simPod{
		sandbox: runtime.Sandbox{PodUID: pod.UID, Namespace: pod.Namespace, Name: pod.Name, NodeName: pod.Spec.NodeName,
			IP: pod.Status.PodIP, State: state, CreatedAt: created},
		containers: map[string]*simContainer{},
	}
	r.pods[pod.UID] = p
	for _, c := range restored {
		if r.containers[c.status.ID] != nil {
			continue
		}
		p.containers[c.status.ID] = c
		r.containers[c.status.ID] = c
		if c.status.State == runtime.ContainerRunning {
			// The process went on running while no one watched: it may have ended since.
			r.scheduleExitLocked(c, c.status.StartedAt)
		}
	}
	return nil
}

// restoreInstance makes the instance a container state describes, if this runtime ran it.
func restoreInstance(podUID types.UID, spec *corev1.Container, state corev1.ContainerState, containerID, image, imageID string, attempt int32) *simContainer {
	id, ok := strings.CutPrefix(containerID, Type+"://")
	if !ok || id == "" {
		return nil
	}
	exitAfter, exitCode, message := behaviour(spec.Command)
	c := &simContainer{
		status:    runtime.ContainerStatus{ID: id, PodUID: podUID, Name: spec.Name, Attempt: attempt, Image: image, ImageRef: imageID},
		exitAfter: exitAfter, exitCode: exitCode, message: message,
	}
	if c.status.Image == "" {
		c.status.Image = spec.Image
	}
	if c.status.ImageRef == "" {
		c.status.ImageRef = imageRef(c.status.Image)
	}
	switch {
	case state.Running != nil:
		c.status.State = runtime.ContainerRunning
		c.status.StartedAt = state.Running.StartedAt.Time
	case state.Terminated != nil:
		t := state.Terminated
		c.status.State = runtime.ContainerExited
		c.status.StartedAt, c.status.FinishedAt = t.StartedAt.Time, t.FinishedAt.Time
		c.status.ExitCode, c.status.Reason, c.status.Message = t.ExitCode, t.Reason, t.Message
	default:
		return nil
	}
	c.status.CreatedAt = c.status.StartedAt
	return c
}

// behaviour says how long a process with command runs (negative: until stopped) and how it exits.
func behaviour(command []string) (exitAfter time.Duration, exitCode int32, message string) {
	if len(command) == 0 {
		return -1, 0, ""
	}
	switch path.Base(command[0]) {
	case "true":
		return 0, 0, ""
	case "false":
		return 0, 1, ""
	case "sleep":
		d, err := sleepDuration(command[1:])
		if err != nil {
			return 0, 1, err.Error()
		}
		return d, 0, ""
	}
	return -1, 0, ""
}

// sleepDuration is how long sleep(1) sleeps with args: the sum of numbers with an optional unit suffix
// s, m, h or d.
func sleepDuration(args []string) (time.Duration, error) {
	if len(args) == 0 {
		return 0, fmt.Errorf("sleep: missing operand")
	}
	var total float64
	for _, a := range args {
		unit := 1.0
		num := a
		if n := len(a); n > 0 {
			switch a[n-1] {
			case 's':
				num = a[:n-1]
			case 'm':
				unit, num = 60, a[:n-1]
			case 'h':
				unit, num = 3600, a[:n-1]
			case 'd':
				unit, num = 86400, a[:n-1]
			}
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 || v != v {
			return 0, fmt.Errorf("sleep: invalid time interval %q", a)
		}
		total += v * unit
	}
	// Far beyond any test, and far from time.Duration's limit of 292 years.
	const maxSeconds = 100 * 365 * 86400
	if total > maxSeconds {
		total = maxSeconds
	}
	return time.Duration(total * float64(time.Second)), nil
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// imageRef is a stand-in digest for image: the simulated runtime pulls nothing, but a stable ImageID
// per image name lets clients that compare image IDs behave.
func imageRef(image string) string {
	sum := sha256.Sum256([]byte(image))
	return "sha256:" + hex.EncodeToString(sum[:])
}
