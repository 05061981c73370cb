package nodelifecycle

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/node/topology"
)

var (
	// unreachableTaint and notReadyTaint evict pods from a Node whose agent is silent or reports NotReady.
	unreachableTaint = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	notReadyTaint    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}

	// conditionTaints are the NoSchedule taint keys a Node gets for its conditions (upstream's
	// TaintNodesByCondition): by condition type and status.
	conditionTaints = map[corev1.NodeConditionType]map[corev1.ConditionStatus]string{
		corev1.NodeReady:              {corev1.ConditionFalse: corev1.TaintNodeNotReady, corev1.ConditionUnknown: corev1.TaintNodeUnreachable},
		corev1.NodeMemoryPressure:     {corev1.ConditionTrue: corev1.TaintNodeMemoryPressure},
		corev1.NodeDiskPressure:       {corev1.ConditionTrue: corev1.TaintNodeDiskPressure},
		corev1.NodeNetworkUnavailable: {corev1.ConditionTrue: corev1.TaintNodeNetworkUnavailable},
		corev1.NodePIDPressure:        {corev1.ConditionTrue: corev1.TaintNodePIDPressure},
	}
	// conditionTaintKeys are the keys of conditionTaints, and the unschedulable taint's.
	conditionTaintKeys = map[string]bool{
		corev1.TaintNodeNotReady: true, corev1.TaintNodeUnreachable: true, corev1.TaintNodeMemoryPressure: true,
		corev1.TaintNodeDiskPressure: true, corev1.TaintNodeNetworkUnavailable: true, corev1.TaintNodePIDPressure: true,
		corev1.TaintNodeUnschedulable: true,
	}
)

// zoneState is the health of a zone's Nodes, as upstream.
type zoneState string

const (
	stateNormal            zoneState = "Normal"
	statePartialDisruption zoneState = "PartialDisruption"
	stateFullDisruption    zoneState = "FullDisruption"
)

// excludeDisruptionLabel keeps a Node out of the zone health counts.
const excludeDisruptionLabel = "node.kubernetes.io/exclude-disruption"

// zoneStates are the states of the zones of the Nodes: fully disrupted when none of its Nodes is Ready,
// partially when more than two are not and they are at least unhealthyThreshold of it. It also returns
// how many Nodes each zone has.
func zoneStates(nodes []*corev1.Node, unhealthyThreshold float64) (map[string]zoneState, map[string]int) {
	ready, notReady := map[string]int{}, map[string]int{}
	for _, n := range nodes {
		if _, excluded := n.Labels[excludeDisruptionLabel]; excluded {
			continue
		}
		zone := topology.GetZoneKey(n)
		if readyStatus(n) == corev1.ConditionTrue {
			ready[zone]++
		} else {
			notReady[zone]++
		}
	}
	states, sizes := map[string]zoneState{}, map[string]int{}
	zones := maps.Clone(ready)
	maps.Copy(zones, notReady)
	for zone := range zones {
		r, nr := ready[zone], notReady[zone]
		sizes[zone] = r + nr
		switch {
		case r == 0 && nr > 0:
			states[zone] = stateFullDisruption
		case nr > 2 && float64(nr)/float64(nr+r) >= unhealthyThreshold:
			states[zone] = statePartialDisruption
		default:
			states[zone] = stateNormal
		}
	}
	return states, sizes
}

// allFullyDisrupted is true when every zone is fully disrupted: then no Node is Ready, the trouble is
// most likely the control plane's own network, and upstream evicts nothing.
func allFullyDisrupted(states map[string]zoneState) bool {
	if len(states) == 0 {
		return false
	}
	for _, s := range states {
		if s != stateFullDisruption {
			return false
		}
	}
	return true
}

// noExecutePolicy says what may be done with a Node's NoExecute not-ready/unreachable taints.
type noExecutePolicy int

const (
	// taintFreely adds and swaps the taints as the Node's Ready condition says.
	taintFreely noExecutePolicy = iota
	// taintNoMore swaps a taint the Node has for the other but adds none: upstream's eviction rate in a
	// partially disrupted small zone is zero.
	taintNoMore
	// untaint removes both: the whole cluster is disrupted.
	untaint
)

// desiredTaints is the Node's taints as they should be: the NoSchedule taints of its conditions and of
// spec.unschedulable exactly, the NoExecute not-ready or unreachable taint of its Ready condition as
// policy allows, and every other taint as it is. Taints kept keep their timeAdded; new ones get now.
func desiredTaints(node *corev1.Node, policy noExecutePolicy, now metav1.Time) []corev1.Taint {
	wantNoSchedule := map[string]bool{}
	for _, c := range node.Status.Conditions {
		if key, ok := conditionTaints[c.Type][c.Status]; ok {
			wantNoSchedule[key] = true
		}
	}
	if node.Spec.Unschedulable {
		wantNoSchedule[corev1.TaintNodeUnschedulable] = true
	}

	hasNotReady, hasUnreachable := hasTaint(node, &notReadyTaint), hasTaint(node, &unreachableTaint)
	keepNotReady, keepUnreachable := false, false
	switch readyStatus(node) {
	case corev1.ConditionFalse:
		keepNotReady = policy == taintFreely || (policy == taintNoMore && (hasNotReady || hasUnreachable))
	case corev1.ConditionUnknown:
		keepUnreachable = policy == taintFreely || (policy == taintNoMore && (hasNotReady || hasUnreachable))
	case "":
		// No Ready condition yet (its grace period runs): leave the taints as they are.
		keepNotReady, keepUnreachable = hasNotReady && policy != untaint, hasUnreachable && policy != untaint
	}

	var out []corev1.Taint
	for _, t := range node.Spec.Taints {
		switch {
		case t.Effect == corev1.TaintEffectNoSchedule && conditionTaintKeys[t.Key]:
			if !wantNoSchedule[t.Key] {
				continue
			}
			delete(wantNoSchedule, t.Key)
		case t.MatchTaint(&notReadyTaint):
			if !keepNotReady {
				continue
			}
			keepNotReady = false
		case t.MatchTaint(&unreachableTaint):
			if !keepUnreachable {
				continue
			}
			keepUnreachable = false
		}
		out = append(out, t)
	}
	for _, key := range slices.Sorted(maps.Keys(wantNoSchedule)) {
		out = append(out, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule, TimeAdded: &now})
	}
	if keepNotReady {
		t := notReadyTaint
		t.TimeAdded = &now
		out = append(out, t)
	}
	if keepUnreachable {
		t := unreachableTaint
		t.TimeAdded = &now
		out = append(out, t)
	}
	return out
}

func hasTaint(node *corev1.Node, taint *corev1.Taint) bool {
	for i := range node.Spec.Taints {
		if node.Spec.Taints[i].MatchTaint(taint) {
			return true
		}
	}
	return false
}
