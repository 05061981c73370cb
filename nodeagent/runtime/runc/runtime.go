// Package runc is the node agent's real container runtime: each pod gets a network namespace on the
// node bridge (nodeagent/podnet), a skiff-shim that runs its containers through runc's libcontainer
// (nodeagent/runtime/runc/shim), and each container an overlayfs root stacked on the image's unpacked
// layers (nodeagent/imagestore).
//
// All of the runtime's state is on disk, under its directory:
//
//	pods/<uid>/sandbox.json          the sandbox: the pod's name, node, address, network namespace
//	pods/<uid>/shim/                 the shim's state directory (its socket, records, libcontainer's root)
//	pods/<uid>/etc/                  hosts, hostname and resolv.conf, bind-mounted into every container
//	pods/<uid>/containers/<id>/      upper, work and rootfs of the container's overlay, its termination log
//	logs/<ns>_<name>_<uid>/<container>/<attempt>.log   the CRI logs, as the kubelet lays them out
//
// so that a restarted agent opens the same directory and finds its pods as it left them: the shims
// kept their containers running and recorded their exits meanwhile.
package runc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/internal/atomicfile"
	"github.com/skiffhq/skiff/nodeagent/imagestore"
	"github.com/skiffhq/skiff/nodeagent/podnet"
	"github.com/skiffhq/skiff/nodeagent/runtime"
	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

const (
	// Type prefixes container IDs as the API shows them: "runc://<id>".
	Type = "runc"
	// Version is the runtime's version as nodes report it.
	Version = "runc://1.5.2"

	// DefaultCgroupParent is the cgroup under which every pod gets pod<uid>, and each container its own.
	DefaultCgroupParent = "/skiff"
)

// PodResources are what containers need from the API: the agent implements it with its client.
type PodResources interface {
	// Env returns the container's environment as the kubelet makes it: env and envFrom, with every
	// reference (fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef) resolved, in order, as
	// NAME=value. An error that the user should see is a *runtime.ContainerError
	// (CreateContainerConfigError).
	Env(ctx context.Context, pod *corev1.Pod, container *corev1.Container) ([]string, error)
	// PullSecrets returns the payloads of the pod's imagePullSecrets that exist (.dockerconfigjson or
	// .dockercfg), as imagestore.PullOptions takes them.
	PullSecrets(ctx context.Context, pod *corev1.Pod) ([][]byte, error)
	// Volumes sets up the pod's volumes (idempotently) and returns each by name.
	Volumes(ctx context.Context, pod *corev1.Pod) (map[string]Volume, error)
	// ReleaseVolumes tears the pod's volumes down once no container uses them.
	ReleaseVolumes(ctx context.Context, podUID types.UID) error
	// SubPath resolves subPath inside a volume's host directory, refusing paths that leave it, and
	// creates it if it does not exist.
	SubPath(volume, subPath string) (string, error)
}

// Volume is a pod volume ready on the host.
type Volume struct {
	HostPath string
	ReadOnly bool
}

// Options configure a Runtime.
type Options struct {
	// Dir holds the runtime's state. Required.
	Dir string
	// ShimBinary is the skiff-shim executable. Required.
	ShimBinary string
	// Images is the node's image store. Required.
	Images *imagestore.Store
	// Network sets up the pods' networks. Required.
	Network *podnet.Network
	// Resources gives containers their environment, pull secrets and volumes. Required.
	Resources PodResources
	// CgroupParent is the cgroup of all pods, DefaultCgroupParent if empty.
	CgroupParent string
	// InsecureRegistries are registries pulled from over plain HTTP besides loopback ones.
	InsecureRegistries []string
	// ResolvConf returns a pod's resolv.conf; by default the node's, without loopback nameservers
	// (a pod cannot reach the node's loopback).
	ResolvConf func(pod *corev1.Pod) ([]byte, error)
	// NodeMemory is the node's memory capacity in bytes, which Burstable containers' oom_score_adj is
	// relative to; 0 if unknown.
	NodeMemory int64
	// ClusterDomain is the DNS domain of the cluster, for /etc/hosts; "cluster.local" if empty.
	ClusterDomain string
	Logger        logr.Logger
}

// Runtime runs pods with runc. Make it with Open.
type Runtime struct {
	opts Options
	// minOOMScoreAdj is the lowest oom_score_adj this process may give, found once at Open.
	minOOMScoreAdj int

	// cidrMu serialises bridge changes; cidr is the pod CIDR the bridge holds.
	cidrMu sync.Mutex
	cidr   string

	mu   sync.Mutex
	pods map[types.UID]*pod
	// containers maps a container ID to its pod.
	containers map[string]types.UID
	subs       runtime.Subscribers

	ctx    context.Context // lives until Close: the shims' event streams
	cancel context.CancelFunc
}

// pod is one sandbox and its shim.
type pod struct {
	rec    sandboxRecord
	client *shim.Client // nil when the sandbox is stopped
	// stopEvents ends the pod's event stream.
	stopEvents context.CancelFunc
}

// sandboxRecord is pods/<uid>/sandbox.json.
type sandboxRecord struct {
	UID         types.UID `json:"uid"`
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	NodeName    string    `json:"nodeName"`
	IP          string    `json:"ip"`
	HostNetwork bool      `json:"hostNetwork,omitempty"`
	NetNSPath   string    `json:"netnsPath,omitempty"`
	Ready       bool      `json:"ready"`
	CreatedAt   time.Time `json:"createdAt"`
}

var _ runtime.Runtime = (*Runtime)(nil)

// Open returns the runtime of opts.Dir with the pods it holds: their shims are reached (started again
// if they died, adopting the containers that still run) and their events followed.
func Open(ctx context.Context, opts Options) (*Runtime, error) {
	switch {
	case opts.Dir == "" || !filepath.IsAbs(opts.Dir):
		return nil, fmt.Errorf("runc runtime: state directory %q must be an absolute path", opts.Dir)
	case opts.ShimBinary == "":
		return nil, errors.New("runc runtime: no skiff-shim binary given")
	case opts.Images == nil || opts.Network == nil || opts.Resources == nil:
		return nil, errors.New("runc runtime: images, network and pod resources are required")
	}
	if _, err := os.Stat(opts.ShimBinary); err != nil {
		return nil, fmt.Errorf("runc runtime: skiff-shim: %w", err)
	}
	if opts.CgroupParent == "" {
		opts.CgroupParent = DefaultCgroupParent
	}
	if opts.ClusterDomain == "" {
		opts.ClusterDomain = "cluster.local"
	}
	if opts.ResolvConf == nil {
		opts.ResolvConf = nodeResolvConf
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	for _, d := range []string{filepath.Join(opts.Dir, "pods"), filepath.Join(opts.Dir, "logs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("runc runtime: %w", err)
		}
	}
	bg, cancel := context.WithCancel(context.Background())
	r := &Runtime{opts: opts, minOOMScoreAdj: minOOMScoreAdj(), pods: map[types.UID]*pod{}, containers: map[string]types.UID{},
		ctx: bg, cancel: cancel}
	if err := r.load(ctx); err != nil {
		cancel()
		return nil, err
	}
	return r, nil
}

// Close stops following the shims. Pods and containers keep running.
func (r *Runtime) Close() {
	r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pods {
		if p.client != nil {
			p.client.Close()
		}
	}
}

// Type implements runtime.Runtime.
func (r *Runtime) Type() string { return Type }

// Version implements runtime.Runtime.
func (r *Runtime) Version() string { return Version }

func (r *Runtime) podDir(uid types.UID) string { return filepath.Join(r.opts.Dir, "pods", string(uid)) }
func (r *Runtime) shimDir(uid types.UID) string {
	return filepath.Join(r.podDir(uid), "shim")
}

// load finds the pods of a previous run and reconnects to their shims.
func (r *Runtime) load(ctx context.Context) error {
	entries, err := os.ReadDir(filepath.Join(r.opts.Dir, "pods"))
	if err != nil {
		return fmt.Errorf("runc runtime: %w", err)
	}
	for _, e := range entries {
		uid := types.UID(e.Name())
		b, err := os.ReadFile(filepath.Join(r.podDir(uid), "sandbox.json"))
		if err != nil {
			// A pod dir without its record was being made when the agent stopped: nothing ran in it.
			r.opts.Logger.Info("Removing an incomplete pod directory", "dir", r.podDir(uid))
			if err := r.removePodFiles(ctx, uid); err != nil {
				r.opts.Logger.Error(err, "Remove incomplete pod directory", "uid", uid)
			}
			continue
		}
		var rec sandboxRecord
		if err := json.Unmarshal(b, &rec); err != nil || rec.UID != uid {
			r.opts.Logger.Error(err, "Unreadable sandbox record: removing the pod", "uid", uid)
			_ = r.removePodFiles(ctx, uid)
			continue
		}
		p := &pod{rec: rec}
		r.pods[uid] = p
		if _, err := os.Stat(shim.SocketPath(r.shimDir(uid))); err == nil || rec.Ready {
			if err := r.connect(ctx, p); err != nil {
				r.opts.Logger.Error(err, "Reach the shim of a pod", "uid", uid)
			}
		}
	}
	return nil
}

// connect starts or reaches the pod's shim, learns its containers and follows its events.
func (r *Runtime) connect(ctx context.Context, p *pod) error {
	c, err := shim.Start(ctx, r.opts.ShimBinary, r.shimDir(p.rec.UID))
	if err != nil {
		return err
	}
	list, err := c.List(ctx)
	if err != nil {
		c.Close()
		return fmt.Errorf("list containers of pod %s: %w", p.rec.UID, err)
	}
	evCtx, stop := context.WithCancel(r.ctx)
	r.mu.Lock()
	p.client, p.stopEvents = c, stop
	for _, ct := range list {
		r.containers[ct.ID] = p.rec.UID
	}
	r.mu.Unlock()
	go r.follow(evCtx, p.rec.UID, c)
	return nil
}

// follow passes the shim's events on until ctx ends, reconnecting when the stream breaks.
func (r *Runtime) follow(ctx context.Context, uid types.UID, c *shim.Client) {
	for ctx.Err() == nil {
		events, err := c.Events(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		// Anything that happened while no stream was open: the pod's worker looks at its pod again.
		r.publish(runtime.ContainerEvent{Type: runtime.ContainerStopped, PodUID: uid})
		for ev := range events {
			t := runtime.ContainerStarted
			if ev.Type == shim.EventExited {
				t = runtime.ContainerStopped
			}
			r.publish(runtime.ContainerEvent{Type: t, PodUID: uid, ContainerID: ev.ID})
		}
	}
}

// Subscribe implements runtime.Runtime.
func (r *Runtime) Subscribe(fn func(runtime.ContainerEvent)) (cancel func()) {
	return r.subs.Subscribe(fn)
}

func (r *Runtime) publish(ev runtime.ContainerEvent) { r.subs.Publish(ev) }

// UpdatePodCIDR implements runtime.PodCIDRUpdater: the node bridge takes the node's pod CIDR.
func (r *Runtime) UpdatePodCIDR(_ context.Context, cidr string) error {
	r.cidrMu.Lock()
	defer r.cidrMu.Unlock()
	if cidr == r.cidr {
		return nil
	}
	if err := r.opts.Network.EnsureBridge(cidr); err != nil {
		return err
	}
	r.cidr = cidr
	return nil
}

func (r *Runtime) pod(uid types.UID) (*pod, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pods[uid]
	return p, ok
}

func (r *Runtime) client(uid types.UID) (*shim.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pods[uid]
	if !ok {
		return nil, fmt.Errorf("pod %s: %w", uid, runtime.ErrNotFound)
	}
	if p.client == nil {
		return nil, fmt.Errorf("pod %s: sandbox is not running", uid)
	}
	return p.client, nil
}

func (r *Runtime) saveRecord(rec sandboxRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(r.podDir(rec.UID), "sandbox.json"), b, 0o600)
}

// RunPodSandbox implements runtime.Runtime: the pod's network namespace with podIP (none of its own
// for a hostNetwork pod), its /etc files, and its shim.
func (r *Runtime) RunPodSandbox(ctx context.Context, p *corev1.Pod, podIP string) error {
	if existing, ok := r.pod(p.UID); ok && existing.rec.Ready && existing.rec.IP == podIP && existing.client != nil {
		return nil
	}
	rec := sandboxRecord{UID: p.UID, Namespace: p.Namespace, Name: p.Name, NodeName: p.Spec.NodeName, IP: podIP,
		HostNetwork: p.Spec.HostNetwork, CreatedAt: time.Now().UTC()}
	if existing, ok := r.pod(p.UID); ok {
		rec.CreatedAt = existing.rec.CreatedAt
	}
	if err := os.MkdirAll(filepath.Join(r.podDir(p.UID), "etc"), 0o755); err != nil {
		return fmt.Errorf("pod directory: %w", err)
	}
	// The record comes first, unready, so that a restart in the middle finds what to clean up.
	if err := r.saveRecord(rec); err != nil {
		return fmt.Errorf("sandbox record: %w", err)
	}
	r.mu.Lock()
	sp, ok := r.pods[p.UID]
	if !ok {
		sp = &pod{}
		r.pods[p.UID] = sp
	}
	sp.rec = rec
	r.mu.Unlock()

	if !p.Spec.HostNetwork {
		sb, err := r.opts.Network.Setup(ctx, p.UID, podIP)
		if err != nil {
			return fmt.Errorf("pod network: %w", err)
		}
		rec.NetNSPath = sb.NetNSPath
	}
	if err := r.writeEtcFiles(p, podIP); err != nil {
		return err
	}
	if sp.client == nil {
		if err := r.connect(ctx, sp); err != nil {
			return fmt.Errorf("start the pod's shim: %w", err)
		}
	}
	rec.Ready = true
	if err := r.saveRecord(rec); err != nil {
		return fmt.Errorf("sandbox record: %w", err)
	}
	r.mu.Lock()
	sp.rec = rec
	r.mu.Unlock()
	return nil
}

// StopPodSandbox implements runtime.Runtime: every container is killed, the network torn down.
func (r *Runtime) StopPodSandbox(ctx context.Context, uid types.UID) error {
	p, ok := r.pod(uid)
	if !ok {
		return nil
	}
	if c := p.client; c != nil {
		list, err := c.List(ctx)
		if err != nil {
			return fmt.Errorf("list containers: %w", err)
		}
		for _, ct := range list {
			if ct.State == shim.StateExited {
				continue
			}
			if err := r.stop(ctx, c, ct.ID, 0); err != nil {
				return err
			}
		}
	}
	if !p.rec.HostNetwork {
		if err := r.opts.Network.Teardown(ctx, uid); err != nil {
			return fmt.Errorf("tear down pod network: %w", err)
		}
	}
	r.mu.Lock()
	p.rec.Ready = false
	rec := p.rec
	r.mu.Unlock()
	return r.saveRecord(rec)
}

// RemovePodSandbox implements runtime.Runtime: containers, shim, volumes, cgroups, files: all go.
func (r *Runtime) RemovePodSandbox(ctx context.Context, uid types.UID) error {
	p, ok := r.pod(uid)
	if !ok {
		// Nothing known, but a half-made directory may be left from before a restart.
		return r.removePodFiles(ctx, uid)
	}
	if err := r.StopPodSandbox(ctx, uid); err != nil {
		return err
	}
	if c := p.client; c != nil {
		list, err := c.List(ctx)
		if err != nil {
			return fmt.Errorf("list containers: %w", err)
		}
		for _, ct := range list {
			if err := r.RemoveContainer(ctx, ct.ID); err != nil {
				return err
			}
		}
		if err := c.Shutdown(ctx); err != nil && !errors.Is(err, shim.ErrNotFound) {
			return fmt.Errorf("shut the pod's shim down: %w", err)
		}
		p.stopEvents()
		c.Close()
	}
	if err := r.removePodFiles(ctx, uid); err != nil {
		return err
	}
	r.mu.Lock()
	delete(r.pods, uid)
	r.mu.Unlock()
	return nil
}

// removePodFiles removes what a pod leaves on the node once its containers are gone: volumes,
// cgroups, container roots, logs and the pod directory.
func (r *Runtime) removePodFiles(ctx context.Context, uid types.UID) error {
	if err := r.opts.Resources.ReleaseVolumes(ctx, uid); err != nil {
		return fmt.Errorf("release volumes: %w", err)
	}
	if err := r.opts.Network.Teardown(ctx, uid); err != nil {
		return fmt.Errorf("tear down pod network: %w", err)
	}
	// Leftover container roots of a pod whose shim was lost.
	ents, _ := os.ReadDir(filepath.Join(r.podDir(uid), "containers"))
	for _, e := range ents {
		if err := unmountRootfs(filepath.Join(r.podDir(uid), "containers", e.Name())); err != nil {
			return err
		}
		if err := r.opts.Images.Release(ctx, e.Name()); err != nil {
			return fmt.Errorf("release image of container %s: %w", e.Name(), err)
		}
	}
	if err := removeCgroup(filepath.Join(r.opts.CgroupParent, "pod"+string(uid))); err != nil {
		return err
	}
	logs, _ := filepath.Glob(filepath.Join(r.opts.Dir, "logs", "*_"+string(uid)))
	for _, l := range logs {
		if err := os.RemoveAll(l); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(r.podDir(uid)); err != nil {
		return fmt.Errorf("remove pod directory: %w", err)
	}
	return nil
}

// PodSandboxStatus implements runtime.Runtime.
func (r *Runtime) PodSandboxStatus(_ context.Context, uid types.UID) (*runtime.Sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pods[uid]
	if !ok {
		return nil, runtime.ErrNotFound
	}
	sb := p.sandbox()
	return &sb, nil
}

// ListPodSandboxes implements runtime.Runtime.
func (r *Runtime) ListPodSandboxes(context.Context) ([]runtime.Sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]runtime.Sandbox, 0, len(r.pods))
	for _, p := range r.pods {
		out = append(out, p.sandbox())
	}
	return out, nil
}

func (p *pod) sandbox() runtime.Sandbox {
	state := runtime.SandboxNotReady
	if p.rec.Ready && p.client != nil {
		state = runtime.SandboxReady
	}
	return runtime.Sandbox{PodUID: p.rec.UID, Namespace: p.rec.Namespace, Name: p.rec.Name, NodeName: p.rec.NodeName,
		IP: p.rec.IP, State: state, CreatedAt: p.rec.CreatedAt}
}

// RefreshVolumes implements runtime.VolumeRefresher.
func (r *Runtime) RefreshVolumes(ctx context.Context, pod *corev1.Pod) error {
	if len(pod.Spec.Volumes) == 0 {
		return nil
	}
	_, err := r.opts.Resources.Volumes(ctx, pod)
	return err
}
