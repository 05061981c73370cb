package runc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/nodeagent/imagestore"
	"github.com/skiffhq/skiff/nodeagent/runtime"
	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

// Labels the runtime keeps on each container's shim record: what ListContainers reports comes from them.
const (
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
	labelAttempt       = "skiff.dev/attempt"
	labelImage         = "skiff.dev/image"
	labelImageRef      = "skiff.dev/image-ref"
	labelTermPolicy    = "skiff.dev/termination-message-policy"
	labelStopSignal    = "skiff.dev/stop-signal"
)

// Limits of the termination message, as the kubelet's.
const (
	maxTerminationMessage     = 4096
	fallbackTerminationLines  = 80
	fallbackTerminationLength = 2048
	// killWait is how long a SIGKILLed container is waited for.
	killWait = 10 * time.Second
)

func newContainerID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *Runtime) containerDir(uid types.UID, id string) string {
	return filepath.Join(r.podDir(uid), "containers", id)
}

// logPath is where the kubelet keeps a container instance's log: <ns>_<name>_<uid>/<container>/<attempt>.log.
func (r *Runtime) logPath(pod *corev1.Pod, container string, attempt int32) string {
	return filepath.Join(r.opts.Dir, "logs", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID), container,
		strconv.Itoa(int(attempt))+".log")
}

// StartContainer implements runtime.Runtime: the image is made present, an overlay root stacked on
// its layers, and the shim asked to run the container in the pod's namespaces.
func (r *Runtime) StartContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt int32) (string, error) {
	client, err := r.client(pod.UID)
	if err != nil {
		return "", err
	}
	p, _ := r.pod(pod.UID)
	secrets, err := r.opts.Resources.PullSecrets(ctx, pod)
	if err != nil {
		return "", err
	}
	img, err := r.opts.Images.EnsureImage(ctx, c, imagestore.PullOptions{PullSecrets: secrets, InsecureRegistries: r.opts.InsecureRegistries})
	if err != nil {
		return "", err
	}
	cfg, err := r.opts.Images.Config(img)
	if err != nil {
		return "", fmt.Errorf("image config of %s: %w", c.Image, err)
	}
	env, err := r.opts.Resources.Env(ctx, withPodIP(pod, p.rec.IP), c)
	if err != nil {
		return "", err
	}
	vols, err := r.opts.Resources.Volumes(ctx, pod)
	if err != nil {
		return "", &runtime.ContainerError{Reason: "CreateContainerConfigError", Message: err.Error()}
	}

	id := newContainerID()
	dir := r.containerDir(pod.UID, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("container directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = unmountRootfs(dir)
			_ = os.RemoveAll(dir)
			_ = r.opts.Images.Release(context.WithoutCancel(ctx), id)
		}
	}()
	if _, err := r.opts.Images.Lease(ctx, img.ID, id); err != nil {
		return "", fmt.Errorf("hold image %s: %w", c.Image, err)
	}
	rootfs, err := mountRootfs(dir, r.opts.Images.LayerDirs(img))
	if err != nil {
		return "", &runtime.ContainerError{Reason: "CreateContainerError", Message: err.Error()}
	}
	termLog := filepath.Join(dir, "termination-log")
	if err := os.WriteFile(termLog, nil, 0o666); err != nil {
		return "", fmt.Errorf("termination log: %w", err)
	}
	b := specBuilder{
		pod: pod, container: c, image: cfg, rootfs: rootfs, env: env, volumes: vols,
		subPath: r.opts.Resources.SubPath, etcDir: filepath.Join(r.podDir(pod.UID), "etc"),
		netns: p.rec.NetNSPath, terminationLog: termLog,
		cgroupsPath: filepath.Join(r.opts.CgroupParent, "pod"+string(pod.UID), id),
		nodeMemory:  r.opts.NodeMemory, minOOMScoreAdj: r.minOOMScoreAdj,
	}
	spec, err := b.build()
	if err != nil {
		return "", err
	}
	logPath := r.logPath(pod, c.Name, attempt)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return "", fmt.Errorf("log directory: %w", err)
	}
	labels := map[string]string{
		labelPodUID:        string(pod.UID),
		labelContainerName: c.Name,
		labelAttempt:       strconv.Itoa(int(attempt)),
		labelImage:         c.Image,
		labelImageRef:      imageRef(img),
		labelTermPolicy:    string(c.TerminationMessagePolicy),
		labelStopSignal:    strconv.Itoa(int(stopSignal(cfg.Config.StopSignal))),
	}
	// The container is known before the shim answers: its events may come first.
	r.mu.Lock()
	r.containers[id] = pod.UID
	r.mu.Unlock()
	_, err = client.Create(ctx, shim.CreateRequest{ID: id, Name: c.Name, Labels: labels, Spec: spec, LogPath: logPath,
		Stdin: c.Stdin, TTY: c.TTY})
	if err != nil {
		r.mu.Lock()
		delete(r.containers, id)
		r.mu.Unlock()
		_ = client.Remove(context.WithoutCancel(ctx), id)
		return "", &runtime.ContainerError{Reason: "RunContainerError", Message: err.Error()}
	}
	ok = true
	return id, nil
}

// imageRef is the image's resolved reference: a repo digest when it has one, else its ID.
func imageRef(img imagestore.Image) string {
	if len(img.RepoDigests) > 0 {
		return img.RepoDigests[0]
	}
	return img.ID
}

// stopSignal is the image's STOPSIGNAL, SIGTERM when it names none or one not known.
func stopSignal(name string) syscall.Signal {
	if name == "" {
		return syscall.SIGTERM
	}
	if n, err := strconv.Atoi(name); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n)
	}
	if sig, ok := signalNames[name]; ok {
		return sig
	}
	if sig, ok := signalNames["SIG"+name]; ok {
		return sig
	}
	return syscall.SIGTERM
}

var signalNames = map[string]syscall.Signal{
	"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT, "SIGQUIT": syscall.SIGQUIT, "SIGKILL": syscall.SIGKILL,
	"SIGHUP": syscall.SIGHUP, "SIGUSR1": syscall.SIGUSR1, "SIGUSR2": syscall.SIGUSR2, "SIGWINCH": syscall.SIGWINCH,
	"SIGSTOP": syscall.SIGSTOP,
}

// containerOf returns the shim client of the container's pod.
func (r *Runtime) containerOf(id string) (types.UID, *shim.Client, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	uid, ok := r.containers[id]
	if !ok {
		return "", nil, false
	}
	p, ok := r.pods[uid]
	if !ok || p.client == nil {
		return uid, nil, false
	}
	return uid, p.client, true
}

// StopContainer implements runtime.Runtime: the image's stop signal, gracePeriod, then SIGKILL.
func (r *Runtime) StopContainer(ctx context.Context, id string, gracePeriod time.Duration) error {
	_, c, ok := r.containerOf(id)
	if !ok {
		return nil
	}
	return r.stop(ctx, c, id, gracePeriod)
}

func (r *Runtime) stop(ctx context.Context, c *shim.Client, id string, grace time.Duration) error {
	ct, err := c.Get(ctx, id)
	switch {
	case errors.Is(err, shim.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("container %s: %w", id, err)
	case ct.State == shim.StateExited:
		return nil
	}
	if grace > 0 {
		sig := syscall.SIGTERM
		if n, err := strconv.Atoi(ct.Labels[labelStopSignal]); err == nil && n > 0 {
			sig = syscall.Signal(n)
		}
		if err := c.Signal(ctx, id, sig); err != nil && !errors.Is(err, shim.ErrNotFound) {
			return fmt.Errorf("signal container %s: %w", id, err)
		}
		if _, err := c.Wait(ctx, id, grace); err == nil || errors.Is(err, shim.ErrNotFound) {
			return nil
		} else if !errors.Is(err, shim.ErrTimeout) {
			return fmt.Errorf("wait for container %s: %w", id, err)
		}
	}
	if err := c.Signal(ctx, id, syscall.SIGKILL); err != nil && !errors.Is(err, shim.ErrNotFound) {
		return fmt.Errorf("kill container %s: %w", id, err)
	}
	if _, err := c.Wait(ctx, id, killWait); err != nil && !errors.Is(err, shim.ErrNotFound) {
		return fmt.Errorf("wait for killed container %s: %w", id, err)
	}
	return nil
}

// RemoveContainer implements runtime.Runtime: the container is killed if it runs, its record, root
// and log go, and its image is no longer held.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	uid, c, ok := r.containerOf(id)
	if !ok {
		return nil
	}
	var logPath string
	if ct, err := c.Get(ctx, id); err == nil {
		logPath = ct.LogPath
	}
	if err := c.Remove(ctx, id); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	dir := r.containerDir(uid, id)
	if err := unmountRootfs(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if logPath != "" {
		_ = os.Remove(logPath)
	}
	if err := r.opts.Images.Release(ctx, id); err != nil {
		return fmt.Errorf("release image of container %s: %w", id, err)
	}
	r.mu.Lock()
	delete(r.containers, id)
	r.mu.Unlock()
	return nil
}

// ListContainers implements runtime.Runtime.
func (r *Runtime) ListContainers(ctx context.Context, uid types.UID) ([]runtime.ContainerStatus, error) {
	p, ok := r.pod(uid)
	if !ok || p.client == nil {
		return nil, nil
	}
	list, err := p.client.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers of pod %s: %w", uid, err)
	}
	out := make([]runtime.ContainerStatus, 0, len(list))
	for _, ct := range list {
		out = append(out, r.status(uid, ct))
	}
	return out, nil
}

// status turns a shim record into what the agent reads.
func (r *Runtime) status(uid types.UID, ct shim.Container) runtime.ContainerStatus {
	attempt, _ := strconv.Atoi(ct.Labels[labelAttempt])
	s := runtime.ContainerStatus{
		ID: ct.ID, PodUID: uid, Name: ct.Labels[labelContainerName], Attempt: int32(attempt),
		Image: ct.Labels[labelImage], ImageRef: ct.Labels[labelImageRef],
		CreatedAt: ct.CreatedAt, StartedAt: ct.StartedAt, FinishedAt: ct.FinishedAt,
	}
	switch ct.State {
	case shim.StateCreated:
		s.State = runtime.ContainerCreated
	case shim.StateRunning:
		s.State = runtime.ContainerRunning
	default:
		s.State = runtime.ContainerExited
		s.ExitCode = int32(ct.ExitCode)
		s.Reason = ct.Reason
		if s.Reason == "" {
			s.Reason = runtime.ExitReason(s.ExitCode)
		}
		s.Message = r.terminationMessage(uid, ct)
	}
	return s
}

// terminationMessage is what the container wrote to its terminationMessagePath, or with
// FallbackToLogsOnError and a failure, the tail of its log.
func (r *Runtime) terminationMessage(uid types.UID, ct shim.Container) string {
	if msg := readHead(filepath.Join(r.containerDir(uid, ct.ID), "termination-log"), maxTerminationMessage); msg != "" {
		return msg
	}
	if ct.Labels[labelTermPolicy] == string(corev1.TerminationMessageFallbackToLogsOnError) && ct.ExitCode != 0 && ct.LogPath != "" {
		return logTail(ct.LogPath, fallbackTerminationLines, fallbackTerminationLength)
	}
	return ""
}

// withPodIP returns pod with status.podIP(s) set to the sandbox's address, which the API may not show
// yet when the first containers start.
func withPodIP(pod *corev1.Pod, ip string) *corev1.Pod {
	if pod.Status.PodIP == ip || ip == "" {
		return pod
	}
	pod = pod.DeepCopy()
	pod.Status.PodIP = ip
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	return pod
}
