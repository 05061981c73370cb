package nodelifecycle

import (
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) metav1.Time { return metav1.NewTime(t0.Add(d)) }

func nodeWithReady(status corev1.ConditionStatus, heartbeat time.Duration) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n", CreationTimestamp: at(-time.Hour)},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status,
			LastHeartbeatTime: at(heartbeat), LastTransitionTime: at(-time.Hour)}}},
	}
}

func lease(renew time.Duration) *coordinationv1.Lease {
	r := metav1.NewMicroTime(t0.Add(renew))
	return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{RenewTime: &r}}
}

func TestObserve(t *testing.T) {
	now := t0.Add(time.Minute)
	fresh := nodeWithReady(corev1.ConditionTrue, 0)
	seen := observe(nil, fresh, nil, t0)

	tests := []struct {
		name      string
		prev      *probe
		node      *corev1.Node
		lease     *coordinationv1.Lease
		wantMoved time.Time
	}{
		{name: "a node first seen has moved now", node: fresh, wantMoved: now},
		{name: "a node that never posted status counts from its creation",
			node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: at(-time.Hour)}}, wantMoved: t0.Add(-time.Hour)},
		{name: "the same heartbeat has not moved", prev: &seen, node: fresh, wantMoved: t0},
		{name: "a new heartbeat has moved", prev: &seen, node: nodeWithReady(corev1.ConditionTrue, 10*time.Second), wantMoved: now},
		{name: "a heartbeat from a skewed clock still counts as moving", prev: &seen,
			node: nodeWithReady(corev1.ConditionTrue, -24*time.Hour), wantMoved: now},
		{name: "a renewed lease has moved", prev: &seen, node: fresh, lease: lease(30 * time.Second), wantMoved: now},
		{name: "the Ready condition removed counts as a change", prev: &seen,
			node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: at(-time.Hour)}}, wantMoved: now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := observe(tt.prev, tt.node, tt.lease, now); !got.moved.Equal(tt.wantMoved) {
				t.Errorf("moved %v, want %v", got.moved, tt.wantMoved)
			}
		})
	}

	t.Run("a lease renewed to the same time has not moved", func(t *testing.T) {
		withLease := observe(&seen, fresh, lease(30*time.Second), t0.Add(30*time.Second))
		if got := observe(&withLease, fresh, lease(30*time.Second), now); !got.moved.Equal(t0.Add(30 * time.Second)) {
			t.Errorf("moved %v, want %v", got.moved, t0.Add(30*time.Second))
		}
	})
}

func TestProbesForgetDeletedNodesAndRestart(t *testing.T) {
	var ps probes
	a, b := *nodeWithReady(corev1.ConditionTrue, 0), *nodeWithReady(corev1.ConditionTrue, 0)
	a.Name, b.Name = "a", "b"
	ps.observeAll([]corev1.Node{a, b}, nil, t0)
	got := ps.observeAll([]corev1.Node{a}, nil, t0.Add(time.Minute))
	if _, ok := got["b"]; ok || len(ps.m) != 1 {
		t.Errorf("deleted node still tracked: %v", ps.m)
	}
	if !got["a"].moved.Equal(t0) {
		t.Errorf("a moved %v, want %v", got["a"].moved, t0)
	}
	ps.restart(t0.Add(2 * time.Minute))
	if !ps.m["a"].moved.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("restart did not reset a: %v", ps.m["a"].moved)
	}
}

func TestUnknownConditions(t *testing.T) {
	now := at(time.Minute)
	node := nodeWithReady(corev1.ConditionTrue, 0)
	node.Status.Conditions = append(node.Status.Conditions,
		corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
		corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse})
	conds, changed := unknownConditions(node, now)
	if !changed {
		t.Fatal("no change")
	}
	byType := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range conds {
		byType[c.Type] = c
	}
	ready := byType[corev1.NodeReady]
	if ready.Status != corev1.ConditionUnknown || ready.Reason != "NodeStatusUnknown" ||
		ready.Message != "Kubelet stopped posting node status." || !ready.LastTransitionTime.Equal(&now) ||
		!ready.LastHeartbeatTime.Equal(ptr.To(at(0))) {
		t.Errorf("Ready %+v", ready)
	}
	if byType[corev1.NodeMemoryPressure].Status != corev1.ConditionUnknown {
		t.Errorf("MemoryPressure %+v", byType[corev1.NodeMemoryPressure])
	}
	disk := byType[corev1.NodeDiskPressure]
	if disk.Status != corev1.ConditionUnknown || disk.Reason != "NodeStatusNeverUpdated" || disk.Message != "Kubelet never posted node status." {
		t.Errorf("DiskPressure %+v", disk)
	}
	if byType[corev1.NodeNetworkUnavailable].Status != corev1.ConditionFalse {
		t.Errorf("NetworkUnavailable changed: %+v", byType[corev1.NodeNetworkUnavailable])
	}
	if node.Status.Conditions[0].Status != corev1.ConditionTrue {
		t.Errorf("the node's own conditions were changed")
	}

	node.Status.Conditions = conds
	if _, changed := unknownConditions(node, at(2*time.Minute)); changed {
		t.Errorf("an Unknown node changes again")
	}
}

func TestGracePeriod(t *testing.T) {
	if got := gracePeriod(nodeWithReady(corev1.ConditionTrue, 0), time.Second, time.Minute); got != time.Second {
		t.Errorf("grace of a reporting node %v", got)
	}
	if got := gracePeriod(&corev1.Node{}, time.Second, time.Minute); got != time.Minute {
		t.Errorf("grace of a new node %v", got)
	}
}

func zoned(name, zone string, ready corev1.ConditionStatus) *corev1.Node {
	n := nodeWithReady(ready, 0)
	n.Name = name
	n.Labels = map[string]string{corev1.LabelTopologyZone: zone}
	return n
}

func TestZoneStates(t *testing.T) {
	T, F, U := corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown
	excluded := zoned("x", "c", F)
	excluded.Labels[excludeDisruptionLabel] = ""
	nodes := []*corev1.Node{
		zoned("a1", "a", T), zoned("a2", "a", U),
		zoned("b1", "b", U), zoned("b2", "b", F),
		zoned("c1", "c", T), zoned("c2", "c", U), zoned("c3", "c", U), zoned("c4", "c", F), excluded,
		zoned("d1", "d", T), zoned("d2", "d", T), zoned("d3", "d", U), zoned("d4", "d", U), zoned("d5", "d", U), zoned("d6", "d", T),
	}
	states, sizes := zoneStates(nodes, DefaultUnhealthyZoneThreshold)
	key := func(zone string) string { return ":\x00:" + zone }
	want := map[string]zoneState{key("a"): stateNormal, key("b"): stateFullDisruption, key("c"): statePartialDisruption, key("d"): stateNormal}
	for zone, s := range want {
		if states[zone] != s {
			t.Errorf("zone %q: %s, want %s", zone, states[zone], s)
		}
	}
	if sizes[key("c")] != 4 {
		t.Errorf("zone c counts %d nodes, want 4 (the excluded one left out)", sizes[key("c")])
	}
	if allFullyDisrupted(states) {
		t.Error("all fully disrupted with ready nodes")
	}
	if only, _ := zoneStates([]*corev1.Node{zoned("b1", "b", U)}, DefaultUnhealthyZoneThreshold); !allFullyDisrupted(only) {
		t.Error("one zone without a ready node is not all fully disrupted")
	}
	if allFullyDisrupted(map[string]zoneState{}) {
		t.Error("no zones count as fully disrupted")
	}
}

func taintKeys(taints []corev1.Taint) []string {
	var out []string
	for _, t := range taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	slices.Sort(out)
	return out
}

func TestDesiredTaints(t *testing.T) {
	now := at(time.Minute)
	earlier := at(0)
	user := corev1.Taint{Key: "example.com/gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name   string
		ready  corev1.ConditionStatus
		extra  []corev1.NodeCondition
		taints []corev1.Taint
		unsch  bool
		policy noExecutePolicy
		want   []string
	}{
		{name: "a ready node has none", ready: corev1.ConditionTrue},
		{name: "unreachable", ready: corev1.ConditionUnknown,
			want: []string{"node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}},
		{name: "not ready", ready: corev1.ConditionFalse,
			want: []string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/not-ready:NoSchedule"}},
		{name: "ready again drops them, keeping others", ready: corev1.ConditionTrue,
			taints: []corev1.Taint{unreachableTaint, {Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}, user},
			want:   []string{"example.com/gpu:NoSchedule"}},
		{name: "unreachable replaces not-ready", ready: corev1.ConditionUnknown, taints: []corev1.Taint{notReadyTaint},
			want: []string{"node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}},
		{name: "pressure conditions and unschedulable", ready: corev1.ConditionTrue, unsch: true,
			extra: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue},
				{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodePIDPressure, Status: corev1.ConditionTrue},
				{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue}},
			want: []string{"node.kubernetes.io/memory-pressure:NoSchedule", "node.kubernetes.io/network-unavailable:NoSchedule",
				"node.kubernetes.io/pid-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule"}},
		{name: "no new NoExecute taint in a small disrupted zone", ready: corev1.ConditionUnknown, policy: taintNoMore,
			want: []string{"node.kubernetes.io/unreachable:NoSchedule"}},
		{name: "but a swap still happens there", ready: corev1.ConditionUnknown, policy: taintNoMore, taints: []corev1.Taint{notReadyTaint},
			want: []string{"node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}},
		{name: "a fully disrupted cluster loses its NoExecute taints", ready: corev1.ConditionUnknown, policy: untaint,
			taints: []corev1.Taint{unreachableTaint}, want: []string{"node.kubernetes.io/unreachable:NoSchedule"}},
		{name: "a node without a Ready condition keeps what it has", ready: "",
			taints: []corev1.Taint{unreachableTaint}, want: []string{"node.kubernetes.io/unreachable:NoExecute"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := &corev1.Node{Spec: corev1.NodeSpec{Taints: tt.taints, Unschedulable: tt.unsch}}
			if tt.ready != "" {
				node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady, Status: tt.ready})
			}
			node.Status.Conditions = append(node.Status.Conditions, tt.extra...)
			got := desiredTaints(node, tt.policy, now)
			if !slices.Equal(taintKeys(got), tt.want) {
				t.Errorf("taints %v, want %v", taintKeys(got), tt.want)
			}
		})
	}

	t.Run("taints kept keep their time; new ones get now", func(t *testing.T) {
		kept := unreachableTaint
		kept.TimeAdded = &earlier
		node := &corev1.Node{Spec: corev1.NodeSpec{Taints: []corev1.Taint{kept}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}}}
		for _, taint := range desiredTaints(node, taintFreely, now) {
			want := now
			if taint.MatchTaint(&unreachableTaint) {
				want = earlier
			}
			if taint.TimeAdded == nil || !taint.TimeAdded.Equal(&want) {
				t.Errorf("taint %s added %v, want %v", taint.ToString(), taint.TimeAdded, want)
			}
		}
	})
}

func toleration(key string, seconds *int64) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}
}

func TestEffectiveTolerations(t *testing.T) {
	keys := func(ts []corev1.Toleration) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Key+"/"+string(t.Effect)+"/"+func() string {
				if t.TolerationSeconds == nil {
					return "forever"
				}
				return time.Duration(*t.TolerationSeconds * int64(time.Second)).String()
			}())
		}
		return out
	}
	tests := []struct {
		name string
		own  []corev1.Toleration
		want []string
	}{
		{name: "a pod without tolerations gets both defaults",
			want: []string{"node.kubernetes.io/not-ready/NoExecute/5m0s", "node.kubernetes.io/unreachable/NoExecute/5m0s"}},
		{name: "a pod's own toleration stands", own: []corev1.Toleration{toleration(corev1.TaintNodeUnreachable, ptr.To[int64](1))},
			want: []string{"node.kubernetes.io/unreachable/NoExecute/1s", "node.kubernetes.io/not-ready/NoExecute/5m0s"}},
		{name: "a toleration of everything needs no default", own: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			want: []string{"//forever"}},
		{name: "a NoSchedule toleration does not count",
			own: []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			want: []string{"node.kubernetes.io/not-ready/NoSchedule/forever", "node.kubernetes.io/not-ready/NoExecute/5m0s",
				"node.kubernetes.io/unreachable/NoExecute/5m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tt.own}}
			if got := keys(effectiveTolerations(pod, 300)); !slices.Equal(got, tt.want) {
				t.Errorf("tolerations %v, want %v", got, tt.want)
			}
			if len(pod.Spec.Tolerations) != len(tt.own) {
				t.Errorf("the pod's own tolerations were changed")
			}
		})
	}
}

func TestEvictionTime(t *testing.T) {
	added := func(d time.Duration) *metav1.Time { m := at(d); return &m }
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: added(0)}
	notReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: added(0)}
	custom := corev1.Taint{Key: "example.com/maintenance", Effect: corev1.TaintEffectNoExecute, TimeAdded: added(10 * time.Second)}
	taintStart := func(t *corev1.Taint) time.Time { return t.TimeAdded.Time }
	tests := []struct {
		name        string
		taints      []corev1.Taint
		tolerations []corev1.Toleration
		podStart    time.Duration
		wantEvict   bool
		wantAt      time.Duration
		atOnce      bool
	}{
		{name: "an untolerated taint evicts at once", taints: []corev1.Taint{custom}, wantEvict: true, atOnce: true},
		{name: "tolerated for a while", taints: []corev1.Taint{unreachable},
			tolerations: []corev1.Toleration{toleration(corev1.TaintNodeUnreachable, ptr.To[int64](30))}, podStart: -time.Hour,
			wantEvict: true, wantAt: 30 * time.Second},
		{name: "tolerated for ever", taints: []corev1.Taint{unreachable},
			tolerations: []corev1.Toleration{toleration(corev1.TaintNodeUnreachable, nil)}},
		{name: "counted from when the pod came if it came later", taints: []corev1.Taint{unreachable},
			tolerations: []corev1.Toleration{toleration(corev1.TaintNodeUnreachable, ptr.To[int64](30))}, podStart: time.Minute,
			wantEvict: true, wantAt: time.Minute + 30*time.Second},
		{name: "the earliest taint's time wins", taints: []corev1.Taint{unreachable, custom},
			tolerations: []corev1.Toleration{toleration(corev1.TaintNodeUnreachable, ptr.To[int64](300)), toleration("example.com/maintenance", ptr.To[int64](5))},
			wantEvict:   true, wantAt: 15 * time.Second},
		{name: "one untolerated taint among tolerated ones evicts at once", taints: []corev1.Taint{unreachable, notReady},
			tolerations: []corev1.Toleration{toleration(corev1.TaintNodeUnreachable, nil)}, wantEvict: true, atOnce: true},
		{name: "zero or negative seconds evict when the taint came", taints: []corev1.Taint{unreachable},
			tolerations: []corev1.Toleration{toleration(corev1.TaintNodeUnreachable, ptr.To[int64](-5))},
			wantEvict:   true, wantAt: -5 * time.Second},
		{name: "the first matching toleration is the one used", taints: []corev1.Taint{unreachable},
			tolerations: []corev1.Toleration{toleration(corev1.TaintNodeUnreachable, ptr.To[int64](60)), {Operator: corev1.TolerationOpExists}},
			wantEvict:   true, wantAt: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			when, evict := evictionTime(tt.taints, tt.tolerations, t0.Add(tt.podStart), taintStart)
			if evict != tt.wantEvict {
				t.Fatalf("evict = %v, want %v", evict, tt.wantEvict)
			}
			switch {
			case !evict:
			case tt.atOnce && !when.IsZero():
				t.Errorf("evict at %v, want at once", when)
			case !tt.atOnce && !when.Equal(t0.Add(tt.wantAt)):
				t.Errorf("evict at %v, want %v", when, t0.Add(tt.wantAt))
			}
		})
	}
}

func TestPodStartOnNode(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: at(0)}}
	if got := podStartOnNode(pod); !got.Equal(t0) {
		t.Errorf("start %v, want creation", got)
	}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: at(time.Minute)}}
	if got := podStartOnNode(pod); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("start %v, want scheduling", got)
	}
}

func TestPodNotReady(t *testing.T) {
	nodeDown := at(time.Minute)
	now := at(2 * time.Minute)
	ready := func(status corev1.ConditionStatus, since time.Duration) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: status, LastTransitionTime: at(since)}}}}
	}
	if got, ok := podNotReady(ready(corev1.ConditionTrue, 0), nodeDown, now); !ok ||
		got.Status.Conditions[1].Status != corev1.ConditionFalse || !got.Status.Conditions[1].LastTransitionTime.Equal(&now) {
		t.Errorf("a pod ready before the node went down: %+v, %v", got, ok)
	}
	if _, ok := podNotReady(ready(corev1.ConditionFalse, 0), nodeDown, now); ok {
		t.Error("a pod already not ready is marked again")
	}
	if _, ok := podNotReady(ready(corev1.ConditionTrue, 90*time.Second), nodeDown, now); ok {
		t.Error("a pod made ready after the node went down is marked")
	}
	if _, ok := podNotReady(&corev1.Pod{}, nodeDown, now); ok {
		t.Error("a pod without a Ready condition is marked")
	}
}

func TestSetDisruptionTarget(t *testing.T) {
	var status corev1.PodStatus
	if !setDisruptionTarget(&status, at(0)) || len(status.Conditions) != 1 {
		t.Fatalf("conditions %+v", status.Conditions)
	}
	c := status.Conditions[0]
	if c.Type != corev1.DisruptionTarget || c.Status != corev1.ConditionTrue || c.Reason != "DeletionByTaintManager" ||
		c.Message != "Taint manager: deleting due to NoExecute taint" {
		t.Errorf("condition %+v", c)
	}
	if setDisruptionTarget(&status, at(time.Minute)) {
		t.Error("set twice")
	}
}
