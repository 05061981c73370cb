package runc

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/sys/capability"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/nodeagent/runtime"
	"github.com/skiffhq/skiff/nodeagent/runtime/runc/shim"
)

// Reasons of containers that cannot be made, as the kubelet reports them.
const (
	reasonCreateConfigError = "CreateContainerConfigError"
	reasonCreateError       = "CreateContainerError"
)

// cpu cgroup figures, as the kubelet computes them.
const (
	minShares     = 2
	sharesPerCPU  = 1024
	quotaPeriod   = 100000 // µs
	minQuotaValue = 1000
)

// specBuilder makes a container's OCI spec from its pod, as the kubelet and a CRI runtime do between them.
type specBuilder struct {
	pod       *corev1.Pod
	container *corev1.Container
	image     *v1.ConfigFile
	rootfs    string
	// env is the container's resolved environment, NAME=value, in order.
	env            []string
	volumes        map[string]Volume
	subPath        func(volume, subPath string) (string, error)
	etcDir         string
	netns          string
	terminationLog string
	cgroupsPath    string
	// nodeMemory is the node's memory capacity, 0 if unknown; minOOMScoreAdj the lowest
	// oom_score_adj containers may get.
	nodeMemory     int64
	minOOMScoreAdj int
}

func configError(format string, args ...any) error {
	return &runtime.ContainerError{Reason: reasonCreateConfigError, Message: fmt.Sprintf(format, args...)}
}

func (b *specBuilder) build() (*specs.Spec, error) {
	c := b.container
	env := shim.MergeEnv(b.image.Config.Env, b.env)
	args := containerArgs(c, b.image.Config, env)
	if len(args) == 0 {
		return nil, &runtime.ContainerError{Reason: reasonCreateError, Message: "no command specified"}
	}
	spec := shim.DefaultSpec(b.rootfs, args)
	spec.Process.Env = env
	spec.Process.Cwd = firstNonEmpty(c.WorkingDir, b.image.Config.WorkingDir, "/")
	spec.Hostname = podHostname(b.pod)
	spec.Linux.CgroupsPath = b.cgroupsPath

	if err := b.setUser(spec); err != nil {
		return nil, err
	}
	b.setNamespaces(spec)
	if err := b.setMounts(spec); err != nil {
		return nil, err
	}
	b.setResources(spec)
	if err := b.setSecurity(spec); err != nil {
		return nil, err
	}
	if sc := b.pod.Spec.SecurityContext; sc != nil && len(sc.Sysctls) > 0 {
		spec.Linux.Sysctl = map[string]string{}
		for _, s := range sc.Sysctls {
			spec.Linux.Sysctl[s.Name] = s.Value
		}
	}
	return spec, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// containerArgs is the process to run, as upstream: command replaces the image's entrypoint and args
// its cmd (a command without args drops the image's cmd); $(VAR) references expand from env.
func containerArgs(c *corev1.Container, cfg v1.Config, env []string) []string {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var command, args []string
	switch {
	case len(c.Command) > 0:
		command, args = c.Command, c.Args
	case len(c.Args) > 0:
		command, args = cfg.Entrypoint, c.Args
	default:
		command, args = cfg.Entrypoint, cfg.Cmd
	}
	out := make([]string, 0, len(command)+len(args))
	expand := len(c.Command) > 0 || len(c.Args) > 0
	for _, a := range append(slices.Clone(command), args...) {
		if expand {
			a = runtime.ExpandVars(a, vars)
		}
		out = append(out, a)
	}
	// The image's own entrypoint and cmd are not expanded: only what the pod says is.
	return out
}

// setUser sets the process's user and groups from the security contexts and the image, enforcing
// runAsNonRoot as the kubelet does.
func (b *specBuilder) setUser(spec *specs.Spec) error {
	podSC := b.pod.Spec.SecurityContext
	if podSC == nil {
		podSC = &corev1.PodSecurityContext{}
	}
	sc := b.container.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	runAsUser := firstInt64(sc.RunAsUser, podSC.RunAsUser)
	runAsGroup := firstInt64(sc.RunAsGroup, podSC.RunAsGroup)
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = podSC.RunAsNonRoot
	}

	userSpec := b.image.Config.User
	if runAsUser != nil {
		userSpec = strconv.FormatInt(*runAsUser, 10)
		if runAsGroup != nil {
			userSpec += ":" + strconv.FormatInt(*runAsGroup, 10)
		}
	} else if runAsGroup != nil {
		name, _, _ := strings.Cut(userSpec, ":")
		if name == "" {
			name = "0"
		}
		userSpec = name + ":" + strconv.FormatInt(*runAsGroup, 10)
	}
	if nonRoot != nil && *nonRoot {
		name, _, _ := strings.Cut(userSpec, ":")
		uid, err := strconv.ParseInt(name, 10, 64)
		switch {
		case name == "" || (err == nil && uid == 0):
			return configError("container has runAsNonRoot and image will run as root (pod: %q, container: %s)",
				b.pod.Name+"_"+b.pod.Namespace+"("+string(b.pod.UID)+")", b.container.Name)
		case err != nil:
			return configError("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)",
				name, b.pod.Name+"_"+b.pod.Namespace+"("+string(b.pod.UID)+")", b.container.Name)
		}
	}
	passwd, _ := securejoin.SecureJoin(b.rootfs, "/etc/passwd")
	group, _ := securejoin.SecureJoin(b.rootfs, "/etc/group")
	u, err := user.GetExecUserPath(userSpec, &user.ExecUser{Uid: 0, Gid: 0, Home: "/"}, passwd, group)
	if err != nil {
		return configError("unable to find user %s: %v", userSpec, err)
	}
	spec.Process.User = specs.User{UID: uint32(u.Uid), GID: uint32(u.Gid)}
	gids := map[int64]bool{}
	for _, g := range u.Sgids {
		gids[int64(g)] = true
	}
	for _, g := range podSC.SupplementalGroups {
		gids[g] = true
	}
	if podSC.FSGroup != nil {
		gids[*podSC.FSGroup] = true
	}
	for g := range gids {
		spec.Process.User.AdditionalGids = append(spec.Process.User.AdditionalGids, uint32(g))
	}
	slices.Sort(spec.Process.User.AdditionalGids)
	if !slices.ContainsFunc(spec.Process.Env, func(kv string) bool { return strings.HasPrefix(kv, "HOME=") }) {
		spec.Process.Env = append(spec.Process.Env, "HOME="+firstNonEmpty(u.Home, "/"))
	}
	if !slices.ContainsFunc(spec.Process.Env, func(kv string) bool { return strings.HasPrefix(kv, "HOSTNAME=") }) {
		spec.Process.Env = append(spec.Process.Env, "HOSTNAME="+spec.Hostname)
	}
	return nil
}

func firstInt64(v ...*int64) *int64 {
	for _, p := range v {
		if p != nil {
			return p
		}
	}
	return nil
}

// setNamespaces joins the pod's network namespace, or the node's ones the pod asks for.
func (b *specBuilder) setNamespaces(spec *specs.Spec) {
	drop := map[specs.LinuxNamespaceType]bool{}
	if b.pod.Spec.HostPID {
		drop[specs.PIDNamespace] = true
	}
	if b.pod.Spec.HostIPC {
		drop[specs.IPCNamespace] = true
	}
	if b.pod.Spec.HostNetwork {
		// A hostNetwork pod has the node's name as well as its network.
		drop[specs.UTSNamespace] = true
		spec.Hostname = ""
	}
	spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return drop[ns.Type] })
	if !b.pod.Spec.HostNetwork && b.netns != "" {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: b.netns})
	}
}

// setMounts adds the pod's /etc files, the termination log and the container's volume mounts.
func (b *specBuilder) setMounts(spec *specs.Spec) error {
	bind := func(src, dst string, ro bool, propagation string) specs.Mount {
		opts := []string{"rbind", propagation}
		if ro {
			opts = append(opts, "ro")
		}
		return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: opts}
	}
	mounted := map[string]bool{}
	for _, m := range b.container.VolumeMounts {
		mounted[path.Clean(m.MountPath)] = true
	}
	// A volume mounted on one of these wins, as upstream.
	for _, f := range []string{"hosts", "hostname", "resolv.conf"} {
		if dst := "/etc/" + f; !mounted[dst] {
			spec.Mounts = append(spec.Mounts, bind(filepath.Join(b.etcDir, f), dst, false, "rprivate"))
		}
	}
	if p := b.container.TerminationMessagePath; p != "" && !mounted[path.Clean(p)] {
		spec.Mounts = append(spec.Mounts, bind(b.terminationLog, p, false, "rprivate"))
	}
	for _, m := range b.container.VolumeMounts {
		v, ok := b.volumes[m.Name]
		if !ok {
			return configError("cannot find volume %q to mount into container %q", m.Name, b.container.Name)
		}
		src := v.HostPath
		sub := m.SubPath
		if m.SubPathExpr != "" {
			vars := map[string]string{}
			for _, kv := range b.env {
				k, val, _ := strings.Cut(kv, "=")
				vars[k] = val
			}
			sub = runtime.ExpandVars(m.SubPathExpr, vars)
		}
		if sub != "" {
			var err error
			if src, err = b.subPath(v.HostPath, sub); err != nil {
				return configError("failed to prepare subPath for volumeMount %q of container %q: %v", m.Name, b.container.Name, err)
			}
		}
		propagation := "rprivate"
		if m.MountPropagation != nil {
			switch *m.MountPropagation {
			case corev1.MountPropagationHostToContainer:
				propagation = "rslave"
			case corev1.MountPropagationBidirectional:
				propagation = "rshared"
			}
		}
		spec.Mounts = append(spec.Mounts, bind(src, m.MountPath, m.ReadOnly || v.ReadOnly, propagation))
	}
	return nil
}

// setResources turns requests and limits into cgroup settings, as the kubelet does.
func (b *specBuilder) setResources(spec *specs.Spec) {
	res := b.container.Resources
	shares := uint64(minShares)
	if q, ok := res.Requests[corev1.ResourceCPU]; ok {
		shares = max(uint64(q.MilliValue())*sharesPerCPU/1000, minShares)
	} else if q, ok := res.Limits[corev1.ResourceCPU]; ok {
		// A limit without a request requests as much.
		shares = max(uint64(q.MilliValue())*sharesPerCPU/1000, minShares)
	}
	cpu := &specs.LinuxCPU{Shares: &shares}
	if q, ok := res.Limits[corev1.ResourceCPU]; ok {
		quota := max(q.MilliValue()*quotaPeriod/1000, minQuotaValue)
		period := uint64(quotaPeriod)
		cpu.Quota, cpu.Period = &quota, &period
	}
	spec.Linux.Resources.CPU = cpu
	if q, ok := res.Limits[corev1.ResourceMemory]; ok {
		limit := q.Value()
		spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
	}
	adj := max(oomScoreAdj(b.pod, b.container, b.nodeMemory), b.minOOMScoreAdj)
	spec.Process.OOMScoreAdj = &adj
}

// oomScoreAdj is the kubelet's: Guaranteed pods are killed last, BestEffort first, Burstable in between
// by how much memory they request of the node's.
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container, capacity int64) int {
	switch qosClass(pod) {
	case corev1.PodQOSGuaranteed:
		return -997
	case corev1.PodQOSBestEffort:
		return 1000
	}
	req := c.Resources.Requests.Memory().Value()
	if capacity <= 0 || req <= 0 {
		return 999
	}
	adj := 1000 - 1000*req/capacity
	return int(min(max(adj, 2), 999))
}

// minOOMScoreAdj is the lowest oom_score_adj containers may get: any without CAP_SYS_RESOURCE (a node
// that is itself a container may lack it) only this process's own, as containerd's
// restrict_oom_score_adj does.
func minOOMScoreAdj() int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1000
	}
	for line := range strings.Lines(string(status)) {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			if err == nil && caps&(1<<capSysResource) != 0 {
				return -1000
			}
		}
	}
	own, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return -1000
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(own)))
	if err != nil {
		return -1000
	}
	return v
}

// capSysResource is CAP_SYS_RESOURCE's bit.
const capSysResource = 24

// qosClass is the pod's status.qosClass, computed if the API has not set it.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	guaranteed, any := true, false
	for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if hasReq || hasLim {
				any = true
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// setSecurity applies the container's security context: privileges, capabilities, no_new_privs, a
// read-only root, and the seccomp profile.
func (b *specBuilder) setSecurity(spec *specs.Spec) error {
	sc := b.container.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	privileged := sc.Privileged != nil && *sc.Privileged
	caps := spec.Process.Capabilities.Bounding
	if privileged {
		caps = allCapabilities()
		spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = nil, nil
		spec.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		for i, m := range spec.Mounts {
			if m.Destination == "/sys" {
				spec.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
			}
		}
	}
	if c := sc.Capabilities; c != nil {
		var err error
		if caps, err = adjustCapabilities(caps, c.Add, c.Drop); err != nil {
			return configError("%v", err)
		}
	}
	spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation && !privileged {
		spec.Process.NoNewPrivileges = true
	}
	if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		spec.Root.Readonly = true
	}
	profile := sc.SeccompProfile
	if profile == nil && b.pod.Spec.SecurityContext != nil {
		profile = b.pod.Spec.SecurityContext.SeccompProfile
	}
	if profile != nil && !privileged {
		switch profile.Type {
		case corev1.SeccompProfileTypeRuntimeDefault:
			spec.Linux.Seccomp = defaultSeccomp()
		case corev1.SeccompProfileTypeLocalhost:
			return &runtime.ContainerError{Reason: reasonCreateError, Message: "localhost seccomp profiles are not supported by this node"}
		}
	}
	return nil
}

// allCapabilities names every capability the kernel knows.
func allCapabilities() []string {
	var out []string
	for _, c := range capability.ListKnown() {
		out = append(out, "CAP_"+strings.ToUpper(c.String()))
	}
	return out
}

// adjustCapabilities drops then adds, as CRI runtimes do; "ALL" means every capability.
func adjustCapabilities(caps []string, add, drop []corev1.Capability) ([]string, error) {
	known := allCapabilities()
	norm := func(c corev1.Capability) (string, error) {
		name := strings.ToUpper(string(c))
		if name == "ALL" {
			return name, nil
		}
		if !strings.HasPrefix(name, "CAP_") {
			name = "CAP_" + name
		}
		if !slices.Contains(known, name) {
			return "", fmt.Errorf("unknown capability %q", c)
		}
		return name, nil
	}
	out := slices.Clone(caps)
	for _, d := range drop {
		name, err := norm(d)
		if err != nil {
			return nil, err
		}
		if name == "ALL" {
			out = nil
			continue
		}
		out = slices.DeleteFunc(out, func(c string) bool { return c == name })
	}
	for _, a := range add {
		name, err := norm(a)
		if err != nil {
			return nil, err
		}
		if name == "ALL" {
			out = known
			continue
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}
