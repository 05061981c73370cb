package nodelifecycle

import (
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
)

// noExecuteTaints are the taints of the Node that evict pods not tolerating them.
func noExecuteTaints(node *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// effectiveTolerations are the pod's tolerations and, for the not-ready and unreachable taints it does
// not tolerate itself, a toleration of defaultSeconds: what upstream's DefaultTolerationSeconds
// admission plugin adds to every pod.
func effectiveTolerations(pod *corev1.Pod, defaultSeconds int64) []corev1.Toleration {
	notReady, unreachable := false, false
	for _, t := range pod.Spec.Tolerations {
		noExecute := t.Effect == corev1.TaintEffectNoExecute || t.Effect == ""
		notReady = notReady || noExecute && (t.Key == corev1.TaintNodeNotReady || t.Key == "")
		unreachable = unreachable || noExecute && (t.Key == corev1.TaintNodeUnreachable || t.Key == "")
	}
	out := pod.Spec.Tolerations
	if notReady && unreachable {
		return out
	}
	out = append([]corev1.Toleration(nil), out...)
	seconds := defaultSeconds
	if !notReady {
		out = append(out, corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds})
	}
	if !unreachable {
		out = append(out, corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds})
	}
	return out
}

// evictionTime says when a pod on a Node with the given NoExecute taints must go, if ever.
//
// A taint no toleration tolerates evicts at once. A taint tolerated (by the first toleration that does,
// as upstream) for tolerationSeconds evicts that long after it applied to the pod: after the later of
// when the Node got it (taintStart) and when the pod came to the Node (podStart). A taint tolerated
// without a limit never evicts. The earliest eviction wins.
func evictionTime(taints []corev1.Taint, tolerations []corev1.Toleration, podStart time.Time,
	taintStart func(*corev1.Taint) time.Time) (at time.Time, evict bool) {
	for i := range taints {
		taint := &taints[i]
		var used *corev1.Toleration
		for j := range tolerations {
			// Comparison operators (Gt, Lt) are an alpha feature upstream, off by default.
			if tolerations[j].ToleratesTaint(logr.Discard(), taint, false) {
				used = &tolerations[j]
				break
			}
		}
		if used == nil {
			return time.Time{}, true
		}
		if used.TolerationSeconds == nil {
			continue
		}
		start := taintStart(taint)
		if podStart.After(start) {
			start = podStart
		}
		when := start.Add(time.Duration(*used.TolerationSeconds) * time.Second)
		if !evict || when.Before(at) {
			at, evict = when, true
		}
	}
	return at, evict
}

// podStartOnNode is when the pod came to its Node: when it was scheduled, or else created.
func podStartOnNode(pod *corev1.Pod) time.Time {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	return pod.CreationTimestamp.Time
}
