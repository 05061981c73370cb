package nodelifecycle

import (
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// probe is what was last seen of a Node's heartbeats, and when (by this controller's clock) either of
// them last moved. Health is judged by when the heartbeats moved as seen here, not by the times they
// carry, so that a node agent's clock being off does not make its Node look dead or alive.
type probe struct {
	// heartbeat is the Ready condition's lastHeartbeatTime; hasReady whether there was a Ready condition.
	heartbeat metav1.Time
	hasReady  bool
	// renew is the renewTime of the Node's Lease, if it has one.
	renew *metav1.MicroTime
	// moved is when a heartbeat last moved.
	moved time.Time
}

// observe returns the probe of a Node after seeing it and its Lease (nil if none) at now, given the
// previous probe (nil for a Node not seen before).
//
// A Node first seen counts as having moved now, so a restarted controller gives every Node a full grace
// period, as upstream; except one that never posted a Ready condition, which counts from its creation.
func observe(prev *probe, node *corev1.Node, lease *coordinationv1.Lease, now time.Time) probe {
	ready := readyCondition(node)
	var p probe
	switch {
	case prev == nil && ready == nil:
		p = probe{moved: node.CreationTimestamp.Time}
	case prev == nil:
		p = probe{hasReady: true, heartbeat: ready.LastHeartbeatTime, moved: now}
	default:
		p = *prev
		switch {
		case ready == nil && p.hasReady:
			// The Ready condition was removed: treated as a change, as upstream does.
			p.hasReady, p.heartbeat, p.moved = false, metav1.Time{}, now
		case ready != nil && (!p.hasReady || !ready.LastHeartbeatTime.Equal(&p.heartbeat)):
			p.hasReady, p.heartbeat, p.moved = true, ready.LastHeartbeatTime, now
		}
	}
	if lease != nil && lease.Spec.RenewTime != nil {
		if p.renew == nil || p.renew.Before(lease.Spec.RenewTime) {
			renew := *lease.Spec.RenewTime
			p.renew, p.moved = &renew, now
		}
	}
	return p
}

// probes holds the probe of every Node, by name.
type probes struct {
	mu sync.Mutex
	m  map[string]probe
}

// observeAll updates the probes from the Nodes and Leases (by Node name) and forgets Nodes that are gone.
func (ps *probes) observeAll(nodes []corev1.Node, leases map[string]*coordinationv1.Lease, now time.Time) map[string]probe {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = map[string]probe{}
	}
	out := make(map[string]probe, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		var prev *probe
		if p, ok := ps.m[n.Name]; ok {
			prev = &p
		}
		out[n.Name] = observe(prev, n, leases[n.Name], now)
	}
	ps.m = out
	return out
}

// restart counts every Node's heartbeats as having moved now (used when the cluster leaves full
// disruption, so that Nodes get a grace period to report again, as upstream).
func (ps *probes) restart(now time.Time) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for name, p := range ps.m {
		p.moved = now
		ps.m[name] = p
	}
}

// monitoredConditions are the conditions set to Unknown when a Node stops reporting. NetworkUnavailable
// is not among them: it is managed by the network, not the node agent.
var monitoredConditions = []corev1.NodeConditionType{
	corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// gracePeriod is how long a Node may go without heartbeats: a Node that never posted a Ready condition
// gets the startup grace period.
func gracePeriod(node *corev1.Node, monitor, startup time.Duration) time.Duration {
	if readyCondition(node) == nil {
		return startup
	}
	return monitor
}

// unknownConditions returns the Node's conditions with those the agent would post set to Unknown, as
// upstream does for a Node that stopped reporting, and whether any changed.
func unknownConditions(node *corev1.Node, now metav1.Time) ([]corev1.NodeCondition, bool) {
	conds := make([]corev1.NodeCondition, len(node.Status.Conditions))
	copy(conds, node.Status.Conditions)
	changed := false
	for _, t := range monitoredConditions {
		i := conditionIndex(conds, t)
		if i < 0 {
			conds = append(conds, corev1.NodeCondition{
				Type: t, Status: corev1.ConditionUnknown,
				Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.",
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: now,
			})
			changed = true
			continue
		}
		if conds[i].Status != corev1.ConditionUnknown {
			conds[i].Status = corev1.ConditionUnknown
			conds[i].Reason = "NodeStatusUnknown"
			conds[i].Message = "Kubelet stopped posting node status."
			conds[i].LastTransitionTime = now
			changed = true
		}
	}
	return conds, changed
}

func conditionIndex(conds []corev1.NodeCondition, t corev1.NodeConditionType) int {
	for i := range conds {
		if conds[i].Type == t {
			return i
		}
	}
	return -1
}

func readyCondition(node *corev1.Node) *corev1.NodeCondition {
	if i := conditionIndex(node.Status.Conditions, corev1.NodeReady); i >= 0 {
		return &node.Status.Conditions[i]
	}
	return nil
}

// readyStatus is the status of the Node's Ready condition; "" if it has none.
func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	if c := readyCondition(node); c != nil {
		return c.Status
	}
	return ""
}
