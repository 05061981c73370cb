package printers

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeUnreachablePodReason is the status reason the node lifecycle controller gives the pods of a
// node it lost.
const nodeUnreachablePodReason = "NodeLost"

func podTable() rowBuilder {
	c := newColumns()
	return &printer[*corev1.Pod]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
			col("Status", "string", "The aggregate status of the containers in this pod."),
			col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
			c.age(),
			wide("IP", "string", corev1.PodStatus{}.SwaggerDoc()["podIP"]),
			wide("Node", "string", corev1.PodSpec{}.SwaggerDoc()["nodeName"]),
			wide("Nominated Node", "string", corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]),
			wide("Readiness Gates", "string", corev1.PodSpec{}.SwaggerDoc()["readinessGates"]),
		},
		cells:      podCells,
		conditions: podConditions,
	}
}

// podConditions marks the rows of pods that have run to their end, so clients can tell them apart.
func podConditions(pod *corev1.Pod) []metav1.TableRowCondition {
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		return []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: string(corev1.PodSucceeded), Message: "The pod has completed successfully."}}
	case corev1.PodFailed:
		return []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: string(corev1.PodFailed), Message: "The pod failed."}}
	}
	return nil
}

// podStatus is what the READY, STATUS and RESTARTS columns are made of.
type podStatus struct {
	reason      string
	ready       int
	total       int
	restarts    int
	lastRestart metav1.Time
}

func podCells(pod *corev1.Pod, now time.Time) []any {
	s := summarizePod(pod)
	restarts := strconv.Itoa(s.restarts)
	if s.restarts != 0 && !s.lastRestart.IsZero() {
		restarts = fmt.Sprintf("%d (%s ago)", s.restarts, since(s.lastRestart, now))
	}
	ip := ""
	if len(pod.Status.PodIPs) > 0 {
		ip = pod.Status.PodIPs[0].IP
	}
	return []any{
		pod.Name, fmt.Sprintf("%d/%d", s.ready, s.total), s.reason, restarts, since(pod.CreationTimestamp, now),
		orNone(ip), orNone(pod.Spec.NodeName), orNone(pod.Status.NominatedNodeName), readinessGates(pod),
	}
}

// summarizePod reads a pod's status the way kubectl shows it. STATUS is not the phase: it is the
// reason of the first init container that has not succeeded (Init:1/2, Init:CrashLoopBackOff) or,
// once the pod is initialized, of the first container (in spec order) that waits or has
// terminated (CrashLoopBackOff, Completed, Error); a pod being deleted is Terminating. Sidecars
// (init containers that restart always) count as containers.
func summarizePod(pod *corev1.Pod) podStatus {
	s := podStatus{reason: string(pod.Status.Phase), total: len(pod.Spec.Containers)}
	if pod.Status.Reason != "" {
		s.reason = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			s.reason = corev1.PodReasonSchedulingGated
		}
	}

	sidecars := map[string]bool{}
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			sidecars[pod.Spec.InitContainers[i].Name] = true
			s.total++
		}
	}

	// Restarts of init containers count only while the pod initializes; after that, only the
	// sidecars' do, beside the containers'.
	var sidecarRestarts int
	var lastSidecarRestart metav1.Time
	initializing := false
	for i, c := range pod.Status.InitContainerStatuses {
		s.restarts += int(c.RestartCount)
		s.lastRestart = laterTermination(s.lastRestart, c)
		if sidecars[c.Name] {
			sidecarRestarts += int(c.RestartCount)
			lastSidecarRestart = laterTermination(lastSidecarRestart, c)
		}
		terminated, waiting := c.State.Terminated, c.State.Waiting
		switch {
		case terminated != nil && terminated.ExitCode == 0:
			continue
		case sidecars[c.Name] && c.Started != nil && *c.Started:
			if c.Ready {
				s.ready++
			}
			continue
		case terminated != nil:
			switch {
			case terminated.Reason != "":
				s.reason = "Init:" + terminated.Reason
			case terminated.Signal != 0:
				s.reason = fmt.Sprintf("Init:Signal:%d", terminated.Signal)
			default:
				s.reason = fmt.Sprintf("Init:ExitCode:%d", terminated.ExitCode)
			}
		case waiting != nil && waiting.Reason != "" && waiting.Reason != "PodInitializing":
			s.reason = "Init:" + waiting.Reason
		default:
			s.reason = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing || podConditionTrue(pod, corev1.PodInitialized) {
		s.restarts, s.lastRestart = sidecarRestarts, lastSidecarRestart
		running := false
		// Backwards, so that the first container in spec order that has a reason gives it.
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			c := pod.Status.ContainerStatuses[i]
			s.restarts += int(c.RestartCount)
			s.lastRestart = laterTermination(s.lastRestart, c)
			terminated, waiting := c.State.Terminated, c.State.Waiting
			switch {
			case waiting != nil && waiting.Reason != "":
				s.reason = waiting.Reason
			case terminated != nil && terminated.Reason != "":
				s.reason = terminated.Reason
			case terminated != nil && terminated.Signal != 0:
				s.reason = fmt.Sprintf("Signal:%d", terminated.Signal)
			case terminated != nil:
				s.reason = fmt.Sprintf("ExitCode:%d", terminated.ExitCode)
			case c.Ready && c.State.Running != nil:
				running = true
				s.ready++
			}
		}
		// A container that completed beside others still running leaves the pod running.
		if s.reason == "Completed" && running {
			if podConditionTrue(pod, corev1.PodReady) {
				s.reason = "Running"
			} else {
				s.reason = "NotReady"
			}
		}
	}

	if pod.DeletionTimestamp != nil {
		switch {
		case pod.Status.Reason == nodeUnreachablePodReason:
			s.reason = "Unknown"
		case pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed:
			s.reason = "Terminating"
		}
	}
	return s
}

// isSidecar says whether an init container keeps running beside the containers.
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// laterTermination is the later of last and the time the container last terminated.
func laterTermination(last metav1.Time, c corev1.ContainerStatus) metav1.Time {
	if t := c.LastTerminationState.Terminated; t != nil && last.Before(&t.FinishedAt) {
		return t.FinishedAt
	}
	return last
}

// podConditionTrue says whether the first condition of that type the pod has is true.
func podConditionTrue(pod *corev1.Pod, condition corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == condition {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readinessGates is how many of the pod's readiness gates are met, of how many.
func readinessGates(pod *corev1.Pod) string {
	if len(pod.Spec.ReadinessGates) == 0 {
		return "<none>"
	}
	met := 0
	for _, gate := range pod.Spec.ReadinessGates {
		if podConditionTrue(pod, gate.ConditionType) {
			met++
		}
	}
	return fmt.Sprintf("%d/%d", met, len(pod.Spec.ReadinessGates))
}
