package nodeagent

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/nodeagent/runtime"
)

// Reasons and messages of the statuses the agent writes, as upstream's kubelet writes them.
const (
	reasonContainerCreating      = "ContainerCreating"
	reasonPodInitializing        = "PodInitializing"
	reasonCrashLoopBackOff       = "CrashLoopBackOff"
	reasonContainerStatusUnknown = "ContainerStatusUnknown"
	reasonRunContainerError      = "RunContainerError"

	reasonUnknownContainerStatuses = "UnknownContainerStatuses"
	reasonPodCompleted             = "PodCompleted"
	reasonPodFailed                = "PodFailed"
	reasonContainersNotReady       = "ContainersNotReady"
	reasonContainersNotInitialized = "ContainersNotInitialized"
	reasonReadinessGatesNotReady   = "ReadinessGatesNotReady"

	reasonDeadlineExceeded  = "DeadlineExceeded"
	messageDeadlineExceeded = "Pod was active on the node longer than the specified deadline"

	messageGoneWhenTerminated = "The container could not be located when the pod was terminated"
	messageGoneWhenRunning    = "The container could not be located when the pod was deleted.  The container used to be Running"

	// exitCodeUnknown is reported for a container whose end nobody saw: "it was killed" is the safe guess.
	exitCodeUnknown = 137
)

// podView is what a pod worker knows of its pod at one moment: everything the pod's status is made of.
type podView struct {
	// Pod is the pod as the API has it: its spec, and the status written last.
	Pod *corev1.Pod
	Now time.Time
	// RuntimeType prefixes container IDs ("simulated" gives "simulated://ID").
	RuntimeType string
	NodeIP      string
	// PodIP is the sandbox's address; empty while the pod has no sandbox.
	PodIP string
	// SandboxReady says the pod's sandbox exists and is ready: containers can start.
	SandboxReady bool
	// Containers are the runtime's instances of the pod's containers.
	Containers []runtime.ContainerStatus
	// Waiting are containers that must start again later, and why (CrashLoopBackOff, a start error).
	Waiting map[string]corev1.ContainerStateWaiting
	// Terminal says the pod is done: it is being deleted or failed by the agent, and its containers will
	// not run again.
	Terminal bool
	// Eviction, if set, fails the pod with this reason and message (activeDeadlineSeconds).
	Eviction *podEviction
	// StartTime is when the agent took the pod on, kept in status.startTime once set.
	StartTime time.Time
}

// podEviction is the agent's decision to fail a pod.
type podEviction struct {
	Reason, Message string
}

// generatePodStatus is the pod's status as the agent reports it: the status the API holds, with the
// fields the node owns made anew from what the runtime has. Fields others own (qosClass, conditions
// other than the kubelet's, nominatedNodeName, resize) are kept as they are.
func generatePodStatus(v podView) corev1.PodStatus {
	pod := v.Pod
	old := pod.Status
	s := *old.DeepCopy()

	if v.NodeIP != "" {
		s.HostIP = v.NodeIP
		s.HostIPs = []corev1.HostIP{{IP: v.NodeIP}}
	}
	if v.PodIP != "" {
		s.PodIP = v.PodIP
		s.PodIPs = []corev1.PodIP{{IP: v.PodIP}}
	}
	if s.StartTime == nil && !v.StartTime.IsZero() {
		t := apiTime(v.StartTime)
		s.StartTime = &t
	}

	byName := instancesByName(v.Containers)
	hasInit := len(pod.Spec.InitContainers) > 0
	s.InitContainerStatuses = containerStatuses(v, pod.Spec.InitContainers, old.InitContainerStatuses, byName, hasInit, true)
	s.ContainerStatuses = containerStatuses(v, pod.Spec.Containers, old.ContainerStatuses, byName, hasInit, false)
	slices.SortFunc(s.ContainerStatuses, func(a, b corev1.ContainerStatus) int { return cmp.Compare(a.Name, b.Name) })

	all := append(append([]corev1.ContainerStatus{}, s.InitContainerStatuses...), s.ContainerStatuses...)
	s.Phase = podPhase(&pod.Spec, all, v.Terminal)
	// A pod never leaves a terminal phase.
	if old.Phase == corev1.PodSucceeded || old.Phase == corev1.PodFailed {
		s.Phase = old.Phase
	}
	if s.Phase != old.Phase {
		s.Reason, s.Message = "", ""
	}
	if v.Eviction != nil {
		s.Phase, s.Reason, s.Message = corev1.PodFailed, v.Eviction.Reason, v.Eviction.Message
	}
	if v.Terminal {
		terminateStatus(&s)
	}

	s.ObservedGeneration = pod.Generation
	s.Conditions = podConditions(pod, &s, v.SandboxReady, v.Now)
	return s
}

// instancesByName groups instances by container name, newest (highest attempt) first.
func instancesByName(instances []runtime.ContainerStatus) map[string][]runtime.ContainerStatus {
	out := map[string][]runtime.ContainerStatus{}
	for _, c := range instances {
		out[c.Name] = append(out[c.Name], c)
	}
	for _, list := range out {
		slices.SortFunc(list, newestFirst)
	}
	return out
}

func newestFirst(a, b runtime.ContainerStatus) int {
	if c := cmp.Compare(b.Attempt, a.Attempt); c != 0 {
		return c
	}
	return b.CreatedAt.Compare(a.CreatedAt)
}

// containerStatuses makes the statuses of specs (init containers if isInit) from their instances, as
// upstream's convertToAPIContainerStatuses: the newest instance is the state, the one before it the last
// state; a container without instances keeps what the API said of it.
func containerStatuses(v podView, specs []corev1.Container, old []corev1.ContainerStatus, byName map[string][]runtime.ContainerStatus, hasInit, isInit bool) []corev1.ContainerStatus {
	if len(specs) == 0 {
		return nil
	}
	oldByName := map[string]*corev1.ContainerStatus{}
	for i := range old {
		oldByName[old[i].Name] = &old[i]
	}
	defaultWaiting := reasonContainerCreating
	if hasInit {
		defaultWaiting = reasonPodInitializing
	}
	out := make([]corev1.ContainerStatus, 0, len(specs))
	for i := range specs {
		spec := &specs[i]
		st := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: defaultWaiting}}}
		prev := oldByName[spec.Name]
		if prev != nil {
			if prev.State.Terminated != nil {
				st = *prev.DeepCopy()
			} else {
				st.RestartCount = prev.RestartCount
				st.LastTerminationState = *prev.LastTerminationState.DeepCopy()
			}
		}
		if instances := byName[spec.Name]; len(instances) > 0 {
			st = instanceStatus(v, spec, instances[0])
			if len(instances) > 1 {
				st.LastTerminationState = instanceStatus(v, spec, instances[1]).State
			}
		} else if prev != nil && prev.State.Running != nil && st.State.Waiting != nil && st.LastTerminationState.Terminated == nil {
			// It ran and is gone without a trace: say it ended, so the pod does not look Pending again.
			st.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
				Reason: reasonContainerStatusUnknown, Message: messageGoneWhenRunning, ExitCode: exitCodeUnknown}
			if v.Pod.DeletionTimestamp == nil {
				st.RestartCount++
			}
		}
		if w, ok := v.Waiting[spec.Name]; ok {
			if st.State.Terminated != nil {
				st.LastTerminationState = st.State
			}
			w := w
			st.State = corev1.ContainerState{Waiting: &w}
		}
		setReadiness(&st, spec, isInit, v.Now)
		out = append(out, st)
	}
	return out
}

// instanceStatus is the API status of one instance of spec.
func instanceStatus(v podView, spec *corev1.Container, c runtime.ContainerStatus) corev1.ContainerStatus {
	id := v.RuntimeType + "://" + c.ID
	st := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, ImageID: c.ImageRef, ContainerID: id, RestartCount: c.Attempt}
	switch c.State {
	case runtime.ContainerRunning:
		st.State.Running = &corev1.ContainerStateRunning{StartedAt: apiTime(c.StartedAt)}
	case runtime.ContainerExited:
		reason := c.Reason
		if reason == "" {
			reason = runtime.ExitReason(c.ExitCode)
		}
		st.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: c.ExitCode, Reason: reason, Message: c.Message,
			StartedAt: apiTime(c.StartedAt), FinishedAt: apiTime(c.FinishedAt), ContainerID: id}
	default:
		// Created but not running yet: "waiting to be running", as upstream says it.
		st.State.Waiting = &corev1.ContainerStateWaiting{}
	}
	return st
}

// setReadiness sets Started and Ready as upstream's probe manager does. The agent runs no probes: a
// startup or readiness probe succeeds once its initialDelaySeconds have passed since the container
// started. A regular init container is ready once it exited 0.
func setReadiness(st *corev1.ContainerStatus, spec *corev1.Container, isInit bool, now time.Time) {
	started, ready := false, false
	if r := st.State.Running; r != nil {
		started = probePassed(spec.StartupProbe, r.StartedAt.Time, now)
		ready = started && probePassed(spec.ReadinessProbe, r.StartedAt.Time, now)
	}
	if isInit && !restartable(spec) {
		ready = st.State.Terminated != nil && st.State.Terminated.ExitCode == 0
	}
	st.Started = &started
	st.Ready = ready
}

// probePassed says whether a probe that always succeeds has succeeded by now for a container started at
// startedAt. No probe means success.
func probePassed(p *corev1.Probe, startedAt, now time.Time) bool {
	return !now.Before(probeTime(p, startedAt))
}

// probeTime is when a probe that always succeeds first succeeds.
func probeTime(p *corev1.Probe, startedAt time.Time) time.Time {
	if p == nil {
		return startedAt
	}
	return startedAt.Add(time.Duration(p.InitialDelaySeconds) * time.Second)
}

// nextProbeChange is the first moment after now at which a running container of pod becomes started or
// ready, zero if none will.
func nextProbeChange(pod *corev1.Pod, instances []runtime.ContainerStatus, now time.Time) time.Time {
	specs := map[string]*corev1.Container{}
	for i := range pod.Spec.InitContainers {
		if restartable(&pod.Spec.InitContainers[i]) {
			specs[pod.Spec.InitContainers[i].Name] = &pod.Spec.InitContainers[i]
		}
	}
	for i := range pod.Spec.Containers {
		specs[pod.Spec.Containers[i].Name] = &pod.Spec.Containers[i]
	}
	var next time.Time
	for _, c := range instances {
		spec := specs[c.Name]
		if spec == nil || c.State != runtime.ContainerRunning {
			continue
		}
		started := apiTime(c.StartedAt).Time
		startup := probeTime(spec.StartupProbe, started)
		for _, t := range []time.Time{startup, maxTime(startup, probeTime(spec.ReadinessProbe, started))} {
			if t.After(now) && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next
}

// podPhase is the pod's phase from its containers' statuses, as upstream's getPhase. podIsTerminal says
// no container will run again, whatever the restart policy.
func podPhase(spec *corev1.PodSpec, statuses []corev1.ContainerStatus, podIsTerminal bool) corev1.PodPhase {
	byName := map[string]*corev1.ContainerStatus{}
	for i := range statuses {
		byName[statuses[i].Name] = &statuses[i]
	}
	pendingInit, failedInit := 0, 0
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if restartable(c) {
			continue
		}
		st := byName[c.Name]
		switch {
		case st == nil:
			pendingInit++
		case st.State.Running != nil:
			pendingInit++
		case st.State.Terminated != nil:
			if st.State.Terminated.ExitCode != 0 {
				failedInit++
			}
		case st.State.Waiting != nil:
			if last := st.LastTerminationState.Terminated; last != nil {
				if last.ExitCode != 0 {
					failedInit++
				}
			} else {
				pendingInit++
			}
		default:
			pendingInit++
		}
	}

	unknown, running, waiting, stopped, succeeded := 0, 0, 0, 0, 0
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if !restartable(c) {
			continue
		}
		st := byName[c.Name]
		switch {
		case st == nil:
			unknown++
		case st.State.Running != nil:
			if st.Started == nil || !*st.Started {
				pendingInit++
			}
			running++
		case st.State.Terminated != nil:
			// A sidecar that ended does not count for the phase.
		case st.State.Waiting != nil:
			if st.LastTerminationState.Terminated == nil {
				pendingInit++
				waiting++
			}
		default:
			pendingInit++
			unknown++
		}
	}
	for i := range spec.Containers {
		st := byName[spec.Containers[i].Name]
		switch {
		case st == nil:
			unknown++
		case st.State.Running != nil:
			running++
		case st.State.Terminated != nil:
			stopped++
			if st.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case st.State.Waiting != nil:
			if st.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		default:
			unknown++
		}
	}

	if failedInit > 0 && spec.RestartPolicy == corev1.RestartPolicyNever {
		return corev1.PodFailed
	}
	switch {
	case pendingInit > 0 && !anyRegularContainerStarted(spec, statuses):
		return corev1.PodPending
	case waiting > 0:
		return corev1.PodPending
	case running > 0 && unknown == 0:
		return corev1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		if podIsTerminal {
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
		if spec.RestartPolicy == corev1.RestartPolicyAlways {
			// Every container is on its way to a restart.
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		if spec.RestartPolicy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		// OnFailure, and the failed ones restart.
		return corev1.PodRunning
	default:
		return corev1.PodPending
	}
}

// anyRegularContainerStarted says whether any app container has run: then the pod was initialized, even
// if a sidecar restarts now.
func anyRegularContainerStarted(spec *corev1.PodSpec, statuses []corev1.ContainerStatus) bool {
	for _, st := range statuses {
		if st.State.Running == nil && st.State.Terminated == nil {
			continue
		}
		for i := range spec.Containers {
			if spec.Containers[i].Name == st.Name {
				return true
			}
		}
	}
	return false
}

// terminateStatus makes sure a pod the agent ends has a terminal phase and that no container is left
// looking alive or successful without evidence, as upstream's TerminatePod: a container the runtime no
// longer knows counts as failed. Init containers after the last one with any sign of a start are left
// waiting: they never ran.
func terminateStatus(s *corev1.PodStatus) {
	for i := range s.ContainerStatuses {
		if s.ContainerStatuses[i].State.Terminated == nil {
			s.ContainerStatuses[i].State = unknownTermination()
		}
	}
	lastStarted := -1
	for i, st := range s.InitContainerStatuses {
		if st.State.Waiting == nil || st.LastTerminationState.Terminated != nil {
			lastStarted = i
		}
	}
	for i := 0; i <= lastStarted; i++ {
		if s.InitContainerStatuses[i].State.Terminated == nil {
			s.InitContainerStatuses[i].State = unknownTermination()
		}
	}
	if s.Phase != corev1.PodSucceeded && s.Phase != corev1.PodFailed {
		s.Phase = corev1.PodFailed
	}
}

func unknownTermination() corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		Reason: reasonContainerStatusUnknown, Message: messageGoneWhenTerminated, ExitCode: exitCodeUnknown}}
}

// kubeletConditions are the pod conditions the node owns; every other condition is kept as it is.
var kubeletConditions = []corev1.PodConditionType{
	corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady,
}

func kubeletOwned(t corev1.PodConditionType) bool { return slices.Contains(kubeletConditions, t) }

// podConditions are the pod's conditions: the ones others own as they are, the node's made anew, and
// PodScheduled if nobody set it (a pod created with spec.nodeName). A condition whose status did not
// change keeps its lastTransitionTime.
func podConditions(pod *corev1.Pod, s *corev1.PodStatus, sandboxReady bool, now time.Time) []corev1.PodCondition {
	old := pod.Status.Conditions
	out := make([]corev1.PodCondition, 0, len(old)+len(kubeletConditions)+1)
	for _, c := range old {
		if !kubeletOwned(c.Type) {
			out = append(out, c)
		}
	}
	all := append(append([]corev1.ContainerStatus{}, s.InitContainerStatuses...), s.ContainerStatuses...)
	var statuses []corev1.ContainerStatus
	if len(all) > 0 {
		statuses = all
	}
	readyToStart := corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse}
	if sandboxReady {
		readyToStart.Status = corev1.ConditionTrue
	}
	ready := podReadyCondition(&pod.Spec, out, statuses, s.Phase)
	fresh := []corev1.PodCondition{
		readyToStart,
		podInitializedCondition(&pod.Spec, statuses, s.Phase),
		ready,
		containersReadyCondition(&pod.Spec, statuses, s.Phase),
	}
	if !slices.ContainsFunc(out, func(c corev1.PodCondition) bool { return c.Type == corev1.PodScheduled }) {
		fresh = append(fresh, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
	}
	for _, c := range fresh {
		c.ObservedGeneration = pod.Generation
		c.LastTransitionTime = apiTime(now)
		for _, o := range old {
			if o.Type == c.Type && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		out = append(out, c)
	}
	return out
}

// containersReadyCondition is upstream's ContainersReady: true when every app container and sidecar is
// ready.
func containersReadyCondition(spec *corev1.PodSpec, statuses []corev1.ContainerStatus, phase corev1.PodPhase) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse}
	if statuses == nil {
		c.Reason = reasonUnknownContainerStatuses
		return c
	}
	var unknown, unready []string
	check := func(name string) {
		st := findStatus(statuses, name)
		switch {
		case st == nil:
			unknown = append(unknown, name)
		case !st.Ready:
			unready = append(unready, name)
		}
	}
	for i := range spec.InitContainers {
		if restartable(&spec.InitContainers[i]) {
			check(spec.InitContainers[i].Name)
		}
	}
	for i := range spec.Containers {
		check(spec.Containers[i].Name)
	}
	if (phase == corev1.PodSucceeded && len(unknown) == 0) || phase == corev1.PodFailed {
		c.Reason = reasonPodCompleted
		if phase == corev1.PodFailed {
			c.Reason = reasonPodFailed
		}
		return c
	}
	if msg := listMessage(unknown, unready, "unready"); msg != "" {
		c.Reason, c.Message = reasonContainersNotReady, msg
		return c
	}
	c.Status = corev1.ConditionTrue
	return c
}

// podReadyCondition is upstream's Ready: ContainersReady, and every readiness gate's condition True.
func podReadyCondition(spec *corev1.PodSpec, conditions []corev1.PodCondition, statuses []corev1.ContainerStatus, phase corev1.PodPhase) corev1.PodCondition {
	containers := containersReadyCondition(spec, statuses, phase)
	if containers.Status != corev1.ConditionTrue {
		return corev1.PodCondition{Type: corev1.PodReady, Status: containers.Status, Reason: containers.Reason, Message: containers.Message}
	}
	var msgs []string
	for _, gate := range spec.ReadinessGates {
		i := slices.IndexFunc(conditions, func(c corev1.PodCondition) bool { return c.Type == gate.ConditionType })
		switch {
		case i < 0:
			msgs = append(msgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", string(gate.ConditionType)))
		case conditions[i].Status != corev1.ConditionTrue:
			msgs = append(msgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", string(gate.ConditionType), conditions[i].Status))
		}
	}
	if len(msgs) > 0 {
		return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: reasonReadinessGatesNotReady,
			Message: strings.Join(msgs, ", ")}
	}
	return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
}

// podInitializedCondition is upstream's Initialized: true once every init container is done (a regular
// one exited 0, a sidecar started) or any app container has started.
func podInitializedCondition(spec *corev1.PodSpec, statuses []corev1.ContainerStatus, phase corev1.PodPhase) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionFalse}
	if statuses == nil && len(spec.InitContainers) > 0 {
		c.Reason = reasonUnknownContainerStatuses
		return c
	}
	var unknown, incomplete []string
	for i := range spec.InitContainers {
		ic := &spec.InitContainers[i]
		st := findStatus(statuses, ic.Name)
		switch {
		case st == nil:
			unknown = append(unknown, ic.Name)
		case restartable(ic) && (st.Started == nil || !*st.Started):
			incomplete = append(incomplete, ic.Name)
		case !restartable(ic) && !st.Ready:
			incomplete = append(incomplete, ic.Name)
		}
	}
	if phase == corev1.PodSucceeded && len(unknown) == 0 {
		c.Status, c.Reason = corev1.ConditionTrue, reasonPodCompleted
		return c
	}
	if anyRegularContainerStarted(spec, statuses) {
		c.Status = corev1.ConditionTrue
		return c
	}
	if msg := listMessage(unknown, incomplete, "incomplete"); msg != "" {
		c.Reason, c.Message = reasonContainersNotInitialized, msg
		return c
	}
	c.Status = corev1.ConditionTrue
	return c
}

// listMessage is upstream's "containers with unknown status: [a], containers with unready status: [b]".
func listMessage(unknown, other []string, otherWord string) string {
	var msgs []string
	if len(unknown) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unknown status: %s", unknown))
	}
	if len(other) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with %s status: %s", otherWord, other))
	}
	return strings.Join(msgs, ", ")
}

func findStatus(statuses []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

// restartable says whether an init container is a sidecar: it runs beside the app containers and is
// restarted whatever the pod's restart policy.
func restartable(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// apiTime is t as the API stores it, to the second, so that statuses made again compare equal.
func apiTime(t time.Time) metav1.Time {
	if t.IsZero() {
		return metav1.Time{}
	}
	return metav1.NewTime(t).Rfc3339Copy()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// podStatusEqual says whether two statuses say the same, ignoring condition order.
func podStatusEqual(a, b *corev1.PodStatus) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	for _, s := range []*corev1.PodStatus{a, b} {
		slices.SortFunc(s.Conditions, func(x, y corev1.PodCondition) int { return cmp.Compare(x.Type, y.Type) })
	}
	return apiequality.Semantic.DeepEqual(a, b)
}
