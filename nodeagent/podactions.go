package nodeagent

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/nodeagent/runtime"
)

// podActions is what a pod worker does next to bring the runtime towards the pod's spec, as upstream's
// computePodActions: which containers to start, which to stop, and which must wait.
type podActions struct {
	// Start lists the containers to start now, in order: sidecars first, then app containers; during
	// initialization at most one init container.
	Start []containerStart
	// Kill lists the IDs of running instances to stop: sidecars, once every app container is done.
	Kill []string
	// Waiting holds the containers that must run again but not yet, and why.
	Waiting map[string]corev1.ContainerStateWaiting
	// RetryAt is when the first of them may start, zero if none waits.
	RetryAt time.Time
}

// containerStart is a container to start as instance number Attempt. Last is the instance before it, if
// the container ran: its exit feeds the restart back-off.
type containerStart struct {
	Container *corev1.Container
	Attempt   int32
	Last      *runtime.ContainerStatus
}

func (a *podActions) retryAt(t time.Time) {
	if a.RetryAt.IsZero() || t.Before(a.RetryAt) {
		a.RetryAt = t
	}
}

// computePodActions decides what to start and stop for a pod that should run (not terminal, not being
// deleted), given the instances the runtime has. Init containers run one at a time in order and each
// must exit 0; a sidecar (an init container with restartPolicy Always) only has to be running for the
// next one to start. Then the app containers start together. A container that ended runs again as the
// pod's restart policy says (sidecars always), after its back-off.
func computePodActions(pod *corev1.Pod, instances []runtime.ContainerStatus, backoff restartBackoff, now time.Time) podActions {
	a := podActions{Waiting: map[string]corev1.ContainerStateWaiting{}}
	latest := latestInstances(pod, instances)
	policy := pod.Spec.RestartPolicy
	var sidecarStarts, appStarts []containerStart

	// again schedules a container whose newest instance ended, or says why it waits.
	again := func(starts *[]containerStart, c *corev1.Container, last runtime.ContainerStatus) {
		if until, delay, wait := backoff.wait(backoffKey(c.Name, c.Image), last, now); wait {
			a.Waiting[c.Name] = corev1.ContainerStateWaiting{Reason: reasonCrashLoopBackOff,
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", delay, c.Name, podDescription(pod))}
			a.retryAt(until)
			return
		}
		*starts = append(*starts, containerStart{Container: c, Attempt: last.Attempt + 1, Last: &last})
	}

	initialized := false
	for i := range pod.Spec.Containers {
		if _, ok := latest[pod.Spec.Containers[i].Name]; ok {
			initialized = true
		}
	}
	if !initialized {
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			last, ok := latest[c.Name]
			if restartable(c) {
				switch {
				case !ok:
					a.Start = []containerStart{{Container: c}}
					return a
				case last.State == runtime.ContainerExited:
					again(&a.Start, c, last)
					return a
				case last.State != runtime.ContainerRunning:
					return a // still being created
				case !probePassed(c.StartupProbe, apiTime(last.StartedAt).Time, now):
					// The next init container waits until the sidecar has started.
					a.retryAt(probeTime(c.StartupProbe, apiTime(last.StartedAt).Time))
					return a
				}
				continue
			}
			switch {
			case !ok:
				a.Start = []containerStart{{Container: c}}
				return a
			case last.State != runtime.ContainerExited:
				return a // running: wait for it to end
			case last.ExitCode == 0:
				continue
			case policy == corev1.RestartPolicyNever:
				return a // the pod has failed
			default:
				again(&a.Start, c, last)
				return a
			}
		}
	}

	done := true // every app container ended for good
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		last, ok := latest[c.Name]
		switch {
		case !ok:
			done = false
			appStarts = append(appStarts, containerStart{Container: c})
		case last.State != runtime.ContainerExited:
			done = false
		case restartsAfter(policy, last.ExitCode):
			done = false
			again(&appStarts, c, last)
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if !restartable(c) {
			continue
		}
		last, ok := latest[c.Name]
		switch {
		case done:
			// The pod is complete: its sidecars stop and stay stopped.
			if ok && last.State != runtime.ContainerExited && last.ID != "" {
				a.Kill = append(a.Kill, last.ID)
			}
		case !ok:
			sidecarStarts = append(sidecarStarts, containerStart{Container: c})
		case last.State == runtime.ContainerExited:
			again(&sidecarStarts, c, last)
		}
	}
	a.Start = append(sidecarStarts, appStarts...)
	return a
}

// restartsAfter says whether a container that exited with code runs again under policy.
func restartsAfter(policy corev1.RestartPolicy, code int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	default:
		return true
	}
}

// latestInstances is each container's newest instance. A container the runtime has no instance of but
// the API says ran (the runtime lost its state) counts as having ended as the API says, so that it is
// not run again against its restart policy and its restart count goes on.
func latestInstances(pod *corev1.Pod, instances []runtime.ContainerStatus) map[string]runtime.ContainerStatus {
	out := map[string]runtime.ContainerStatus{}
	for _, c := range instances {
		if cur, ok := out[c.Name]; !ok || newestFirst(c, cur) < 0 {
			out[c.Name] = c
		}
	}
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, st := range statuses {
		if _, ok := out[st.Name]; ok {
			continue
		}
		ended := runtime.ContainerStatus{Name: st.Name, Attempt: st.RestartCount, State: runtime.ContainerExited}
		switch {
		case st.State.Terminated != nil:
			t := st.State.Terminated
			ended.ExitCode, ended.Reason, ended.StartedAt, ended.FinishedAt = t.ExitCode, t.Reason, t.StartedAt.Time, t.FinishedAt.Time
		case st.State.Running != nil:
			ended.ExitCode, ended.Reason, ended.StartedAt = exitCodeUnknown, reasonContainerStatusUnknown, st.State.Running.StartedAt.Time
		case st.LastTerminationState.Terminated != nil:
			t := st.LastTerminationState.Terminated
			ended.ExitCode, ended.Reason, ended.StartedAt, ended.FinishedAt = t.ExitCode, t.Reason, t.StartedAt.Time, t.FinishedAt.Time
		default:
			continue
		}
		out[st.Name] = ended
	}
	return out
}

// staleInstances are the IDs of instances no status shows: all but the two newest of each container
// (the current one and the last state).
func staleInstances(instances []runtime.ContainerStatus) []string {
	var out []string
	for _, list := range instancesByName(instances) {
		for _, c := range list[min(2, len(list)):] {
			out = append(out, c.ID)
		}
	}
	return out
}

// podDescription names a pod in messages as upstream's format.Pod: name_namespace(uid).
func podDescription(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}
