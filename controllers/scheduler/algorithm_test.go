package scheduler

import (
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		percentage int32
		nodes      int
		want       int
	}{
		{0, 10, 10},
		{0, 99, 99},
		{0, 100, 100},
		{0, 200, 100},   // 48% is 96: at least 100
		{0, 1000, 420},  // 50% less 8%
		{0, 5000, 500},  // 10%
		{0, 6000, 300},  // 2%, raised to 5%
		{30, 1000, 300}, // configured
		{5, 1000, 100},  // at least 100
		{100, 1000, 1000},
	}
	for _, tc := range tests {
		if got := numFeasibleNodesToFind(tc.percentage, tc.nodes); got != tc.want {
			t.Errorf("numFeasibleNodesToFind(%d%%, %d nodes) = %d, want %d", tc.percentage, tc.nodes, got, tc.want)
		}
	}
}

func TestFitErrorMessage(t *testing.T) {
	tests := []struct {
		err  fitError
		want string
	}{
		{fitError{numAllNodes: 3, reasons: map[string]int{"Insufficient cpu": 2, "node(s) had untolerated taint {k: v}": 1}},
			"0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu. " +
				"preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."},
		{fitError{numAllNodes: 2, preFilterMsg: "pod has unbound immediate PersistentVolumeClaims"},
			"0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. " +
				"preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("message = %q, want %q", got, tc.want)
		}
	}
}

func TestScheduleExplainsWhyNoNodeFits(t *testing.T) {
	nodes := []*corev1.Node{
		withTaints(node("tainted", "8", "8Gi"), corev1.Taint{Key: "k", Value: "v", Effect: corev1.TaintEffectNoSchedule}),
		node("small-1", "1", "8Gi"),
		node("small-2", "1", "1Gi"),
	}
	c := newCluster(t, nodes, nil)
	_, err := c.schedule(newTestAlgorithm(c), pod("p", "2", "2Gi"))
	var fe *fitError
	if !errors.As(err, &fe) {
		t.Fatalf("schedule error = %v, want a fit error", err)
	}
	want := "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu. " +
		"preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
	if fe.Error() != want {
		t.Errorf("message = %q, want %q", fe.Error(), want)
	}
	// A node change of allocatable or taints may help; a label change may not.
	if fe.events&nodeAllocatableChanged == 0 || fe.events&nodeTaintsChanged == 0 || fe.events&nodeLabelsChanged != 0 {
		t.Errorf("events that may help = %b, want allocatable and taint changes, not labels", fe.events)
	}
}

func TestScheduleWithoutNodes(t *testing.T) {
	c := newCluster(t, nil, nil)
	if _, err := c.schedule(newTestAlgorithm(c), pod("p", "", "")); !errors.Is(err, errNoNodes) || err.Error() != "no nodes available to schedule pods" {
		t.Errorf("schedule on an empty cluster = %v, want %v", err, errNoNodes)
	}
}

func TestScheduleSearchesPartOfALargeClusterInTurn(t *testing.T) {
	var nodes []*corev1.Node
	for _, name := range names("node-", 1000) {
		nodes = append(nodes, node(name, "32", "64Gi"))
	}
	c := newCluster(t, nodes, nil)
	a := newTestAlgorithm(c)
	for i, want := range []int{420, 840, 260} {
		if _, err := c.schedule(a, pod(fmt.Sprintf("p%d", i), "100m", "")); err != nil {
			t.Fatal(err)
		}
		if len(a.feasible) != 420 || a.nextStart != want {
			t.Errorf("after pod %d: scored %d nodes and the next search starts at %d, want 420 and %d", i, len(a.feasible), a.nextStart, want)
		}
	}
}

func TestScheduleBreaksTiesAtRandom(t *testing.T) {
	c := newCluster(t, []*corev1.Node{node("a", "4", "8Gi"), node("b", "4", "8Gi"), node("c", "4", "8Gi")}, nil)
	a := newTestAlgorithm(c)
	chosen := map[string]int{}
	for i := range 300 {
		n, err := c.schedule(a, pod(fmt.Sprintf("p%d", i), "1", "1Gi"))
		if err != nil {
			t.Fatal(err)
		}
		chosen[n]++
	}
	for _, n := range []string{"a", "b", "c"} {
		if chosen[n] < 50 {
			t.Errorf("equal nodes chosen %v times, want each about a third", chosen)
		}
	}
}

func TestScheduleCountsAssumedPods(t *testing.T) {
	c := newCluster(t, []*corev1.Node{node("a", "4", "8Gi"), node("b", "4", "8Gi"), node("c", "4", "8Gi")}, nil)
	a := newTestAlgorithm(c)
	var pods []*corev1.Pod
	for i := range 12 {
		pods = append(pods, pod(fmt.Sprintf("p%d", i), "1", "1Gi"))
	}
	perNode := map[string]int{}
	for _, n := range c.scheduleAndAssume(a, pods...) {
		perNode[n]++
	}
	if perNode["a"] != 4 || perNode["b"] != 4 || perNode["c"] != 4 {
		t.Errorf("pods per node = %v, want 4 each: every assumed pod counts", perNode)
	}
	_, err := c.schedule(a, pod("one-too-many", "1", ""))
	if err == nil || err.Error() != "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling." {
		t.Errorf("schedule on full nodes = %v", err)
	}
}

func TestScheduleOnANamedNode(t *testing.T) {
	c := newCluster(t, []*corev1.Node{node("a", "4", "8Gi"), node("b", "1", "8Gi"), node("c", "4", "8Gi")}, nil)
	a := newTestAlgorithm(c)
	daemon := func(nodeName, cpu string) *corev1.Pod {
		p := pod("d-"+nodeName, cpu, "")
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{
				{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{nodeName}}}}}}}}
		return p
	}
	if n, err := c.schedule(a, daemon("c", "1")); err != nil || n != "c" {
		t.Errorf("daemon pod for c placed on %q (%v)", n, err)
	}
	_, err := c.schedule(a, daemon("b", "2"))
	want := "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. " +
		"preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
	if err == nil || err.Error() != want {
		t.Errorf("daemon pod for a full node: %v, want %q", err, want)
	}
}

func TestScheduleFollowsScores(t *testing.T) {
	nodes := []*corev1.Node{
		node("a", "4", "8Gi"),
		node("b", "4", "8Gi", "disk", "ssd"),
		withTaints(node("c", "4", "8Gi", "disk", "ssd"), corev1.Taint{Key: "k", Effect: corev1.TaintEffectPreferNoSchedule}),
	}
	c := newCluster(t, nodes, nil)
	p := pod("p", "100m", "")
	p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
		{Weight: 1, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}}}}}}}
	a := newTestAlgorithm(c)
	for range 20 {
		if n, err := c.schedule(a, p); err != nil || n != "b" {
			t.Fatalf("placed on %q (%v), want b: preferred and untainted", n, err)
		}
	}
}

func TestSchedulePluginErrorsAreNotFitErrors(t *testing.T) {
	c := newCluster(t, []*corev1.Node{node("a", "4", "8Gi")}, nil)
	p := pod("p", "", "")
	p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule,
		LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}}}
	_, err := c.schedule(newTestAlgorithm(c), p)
	var fe *fitError
	if err == nil || errors.As(err, &fe) {
		t.Errorf("schedule with an unparsable selector = %v, want a plugin error", err)
	}
}
