// Package runtime is the node agent's view of a container runtime, shaped after the CRI: a pod runs in a
// sandbox (its network identity: one IP, its namespaces), and its containers run in that sandbox, each
// start of a container being a new instance with its own ID and attempt number. The agent's pod workers
// decide what should run; a Runtime only does what it is told and reports what it has, so that every
// runtime (simulated, runc) gets the same kubelet logic.
//
// All state a runtime keeps is per pod UID. A runtime may serve many nodes (the simulated one does):
// sandboxes remember the node their pod is bound to.
package runtime

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Runtime runs pod sandboxes and their containers. Every method is safe for concurrent use; calls for
// one pod come from one goroutine at a time.
type Runtime interface {
	// Type names the runtime in container IDs as the API shows them: "simulated" gives
	// "simulated://<id>".
	Type() string
	// Version is what the Node reports as status.nodeInfo.containerRuntimeVersion, e.g. "simulated://0.1".
	Version() string

	// RunPodSandbox makes the pod's sandbox with podIP as its address (the node's address for a
	// hostNetwork pod). It is idempotent: a sandbox that is ready already is left alone.
	RunPodSandbox(ctx context.Context, pod *corev1.Pod, podIP string) error
	// StopPodSandbox stops every container of the pod at once and tears down the sandbox's network.
	// The containers and the sandbox stay listed until removed. Stopping what is not there is no error.
	StopPodSandbox(ctx context.Context, podUID types.UID) error
	// RemovePodSandbox forgets the pod: its sandbox and every container instance. Removing what is not
	// there is no error.
	RemovePodSandbox(ctx context.Context, podUID types.UID) error
	// PodSandboxStatus returns the pod's sandbox, or ErrNotFound.
	PodSandboxStatus(ctx context.Context, podUID types.UID) (*Sandbox, error)
	// ListPodSandboxes lists every sandbox the runtime has.
	ListPodSandboxes(ctx context.Context) ([]Sandbox, error)

	// StartContainer creates and starts a new instance of container in the pod's sandbox and returns
	// its ID. attempt is the instance's number: 0 for the first, one more at each restart. An error
	// that should be reported to the user as a waiting reason is a *ContainerError.
	StartContainer(ctx context.Context, pod *corev1.Pod, container *corev1.Container, attempt int32) (string, error)
	// StopContainer stops a running instance, waiting at most gracePeriod for it to exit on its own.
	// Stopping an exited or unknown instance is no error.
	StopContainer(ctx context.Context, id string, gracePeriod time.Duration) error
	// RemoveContainer forgets an instance, stopping it first if it runs.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers returns every instance of the pod's containers, running or exited, in no order.
	ListContainers(ctx context.Context, podUID types.UID) ([]ContainerStatus, error)

	// Subscribe calls fn for every container event from now on, until cancel is called. fn runs on
	// the runtime's goroutines and must not block.
	Subscribe(fn func(ContainerEvent)) (cancel func())
}

// Restorer is implemented by runtimes that keep no state of their own across restarts of the agent
// (the simulated one). RestorePod rebuilds the pod's sandbox and containers from the status the API
// holds, as a runtime that kept its state would find them: running containers keep running, with
// their IDs, start times and attempts. It does nothing if the runtime knows the pod already or the
// status shows nothing it ran.
type Restorer interface {
	RestorePod(ctx context.Context, pod *corev1.Pod) error
}

// PodCIDRUpdater is implemented by runtimes that set up the node's pod network (the runc one): the
// agent gives them the node's pod CIDR before it runs a sandbox with an address from it, as the CRI's
// UpdateRuntimeConfig. It is called again with the same CIDR; that changes nothing.
type PodCIDRUpdater interface {
	UpdatePodCIDR(ctx context.Context, cidr string) error
}

// VolumeRefresher is implemented by runtimes whose pods have volumes on the node: the agent calls it at
// every sync of a running pod, so that configMap, secret and downwardAPI volumes follow their sources
// (within the resync interval of a minute, as upstream's kubelet).
type VolumeRefresher interface {
	RefreshVolumes(ctx context.Context, pod *corev1.Pod) error
}

// ErrNotFound says the runtime has no such sandbox or container.
var ErrNotFound = errors.New("not found")

// SandboxState is whether a sandbox is usable.
type SandboxState string

const (
	// SandboxReady is a sandbox whose network is set up: containers may start in it.
	SandboxReady SandboxState = "Ready"
	// SandboxNotReady is a stopped sandbox.
	SandboxNotReady SandboxState = "NotReady"
)

// Sandbox is a pod's sandbox.
type Sandbox struct {
	PodUID    types.UID
	Namespace string
	Name      string
	// NodeName is the node the pod is bound to.
	NodeName  string
	IP        string
	State     SandboxState
	CreatedAt time.Time
}

// ContainerState is where an instance is in its life.
type ContainerState string

const (
	// ContainerCreated is an instance made but not (yet) started.
	ContainerCreated ContainerState = "Created"
	// ContainerRunning is a running instance.
	ContainerRunning ContainerState = "Running"
	// ContainerExited is an instance that ran and ended; ExitCode says how.
	ContainerExited ContainerState = "Exited"
)

// ContainerStatus is one instance of a container.
type ContainerStatus struct {
	// ID is the runtime's ID of the instance, without the Type() prefix.
	ID     string
	PodUID types.UID
	// Name is the container's name in the pod spec.
	Name string
	// Attempt is the instance's number: the container's restart count when it was started.
	Attempt int32
	// Image is the image as the spec names it; ImageRef is the image's resolved reference (digest).
	Image, ImageRef string
	State           ContainerState
	CreatedAt       time.Time
	StartedAt       time.Time
	FinishedAt      time.Time
	ExitCode        int32
	// Reason and Message explain an exit: "Completed", "Error", "OOMKilled".
	Reason, Message string
}

// ContainerEventType is what happened to a container.
type ContainerEventType string

const (
	// ContainerStarted says an instance began running.
	ContainerStarted ContainerEventType = "Started"
	// ContainerStopped says an instance exited, on its own or when stopped.
	ContainerStopped ContainerEventType = "Stopped"
)

// ContainerEvent tells the agent that an instance changed state, so that the pod's worker looks at once.
type ContainerEvent struct {
	Type        ContainerEventType
	PodUID      types.UID
	ContainerID string
}

// ContainerError is a failure to start a container that the user should see as the container's
// waiting reason, as upstream's CreateContainerError, RunContainerError or ErrImagePull.
type ContainerError struct {
	Reason  string
	Message string
}

func (e *ContainerError) Error() string { return e.Reason + ": " + e.Message }

// Standard exit reasons, as the CRI runtimes report them.
const (
	ReasonCompleted = "Completed"
	ReasonError     = "Error"
)

// ExitReason is the reason of an exit with code, when the runtime knows no better one.
func ExitReason(code int32) string {
	if code == 0 {
		return ReasonCompleted
	}
	return ReasonError
}
