package shim

import (
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Files and directories of a pod state directory.
const (
	// SocketName is the shim's unix socket.
	SocketName = "shim.sock"
	// PidFileName holds the serving shim's pid.
	PidFileName = "shim.pid"
	// LockFileName is flocked by the serving shim for its whole life, so that a second shim on the same
	// directory refuses to start, and a dead shim's lock goes away with it.
	LockFileName = "shim.lock"
	// LogFileName receives the shim's own stderr when Start launches it.
	LogFileName = "shim.log"
	// ContainersDir holds one record per container, <id>.json; it lives outside libcontainer's state
	// directory because Destroy removes that one, and the exit code must outlive it.
	ContainersDir = "containers"
	// LibcontainerDir is libcontainer's root: one state directory per container.
	LibcontainerDir = "runc"
)

// SocketPath returns the socket of the shim serving dir.
func SocketPath(dir string) string { return filepath.Join(dir, SocketName) }

// State is where a container is in its life.
type State string

const (
	// StateCreated is a container being started: its record exists, its init has not run yet.
	StateCreated State = "created"
	// StateRunning is a container whose init runs.
	StateRunning State = "running"
	// StateExited is a container whose init is gone; its exit code and reason are known.
	StateExited State = "exited"
)

// Reasons of an exited container, as the kubelet reports them in a terminated state.
const (
	ReasonCompleted = "Completed"
	ReasonError     = "Error"
	ReasonOOMKilled = "OOMKilled"
	// ReasonUnknown is a container that exited while no shim was its parent: its code is lost.
	ReasonUnknown = "Unknown"
)

// ExitCodeUnknown is the exit code of a container whose real code was lost.
const ExitCodeUnknown = 255

// Container is the record the shim keeps of one container, on disk and in its answers.
type Container struct {
	ID     string            `json:"id"`
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	State  State             `json:"state"`
	// Pid is the container's init as seen from the host; PidStartTime is its start time in clock ticks
	// since boot (/proc/<pid>/stat field 22), which tells a reused pid apart.
	Pid          int    `json:"pid,omitempty"`
	PidStartTime uint64 `json:"pidStartTime,omitempty"`
	LogPath      string `json:"logPath,omitempty"`

	CreatedAt  time.Time `json:"createdAt"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`

	// ExitCode follows the shell: 128+n when signal n killed the init (137 for SIGKILL and OOM).
	ExitCode int `json:"exitCode"`
	// Signal is the signal that killed the init, 0 if it exited by itself.
	Signal    int    `json:"signal,omitempty"`
	OOMKilled bool   `json:"oomKilled,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Message   string `json:"message,omitempty"`
}

// CreateRequest asks the shim to create and start a container.
type CreateRequest struct {
	ID     string            `json:"id"`
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	// Spec is the full OCI spec. Spec.Root.Path is an absolute, already prepared rootfs (the agent's
	// overlay mount); Spec.Linux.CgroupsPath is a cgroupfs path such as /skiff/pod<uid>/<id>.
	// Spec.Process.Terminal is set from TTY.
	Spec *specs.Spec `json:"spec"`
	// LogPath is the file, opened for append, that receives stdout and stderr in the CRI log format.
	LogPath string `json:"logPath"`
	// LogMaxSize is the size in bytes past which the log is rotated (0: 10 MiB), and LogMaxFiles the
	// number of files kept, the live one included (0: 5), as the kubelet's containerLogMaxSize and
	// containerLogMaxFiles. Rotated files are LogPath.1 (newest) to LogPath.<LogMaxFiles-1>.
	LogMaxSize  int64 `json:"logMaxSize,omitempty"`
	LogMaxFiles int   `json:"logMaxFiles,omitempty"`
	// Stdin keeps the container's stdin open (a pipe the shim holds) instead of /dev/null.
	Stdin bool `json:"stdin,omitempty"`
	// TTY gives the container a terminal; its output is logged as stdout.
	TTY bool `json:"tty,omitempty"`
}

// SignalRequest asks the shim to send a signal to a container's init.
type SignalRequest struct {
	Signal int `json:"signal"`
}

// EventType says what happened to a container.
type EventType string

const (
	// EventStarted: the container's init runs.
	EventStarted EventType = "started"
	// EventExited: the container's init is gone and its record holds the exit.
	EventExited EventType = "exited"
)

// Event tells a subscriber that a container started or exited; Container is its record right after.
type Event struct {
	ID        string    `json:"id"`
	Type      EventType `json:"type"`
	Container Container `json:"container"`
}

// Info describes the serving shim.
type Info struct {
	Pid int    `json:"pid"`
	Dir string `json:"dir"`
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ValidateID checks that id can name a container: it becomes a file name and libcontainer's ID.
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: container id %q must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit", ErrInvalid, id)
	}
	return nil
}
