package podgc

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func pod(name string, opts ...podOpt) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name),
		CreationTimestamp: metav1.NewTime(t0)}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func on(node string) podOpt           { return func(p *corev1.Pod) { p.Spec.NodeName = node } }
func age(d time.Duration) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t0.Add(-d)) }
}
func evicted() podOpt {
	return func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted" }
}
func terminating() podOpt {
	return func(p *corev1.Pod) { now := metav1.NewTime(t0); p.DeletionTimestamp = &now }
}

func nodeWith(name string, ready corev1.ConditionStatus, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}}}
}

var outOfService = corev1.Taint{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute}

func TestPlan(t *testing.T) {
	nodes := map[string]*corev1.Node{
		"ready":    nodeWith("ready", corev1.ConditionTrue),
		"notready": nodeWith("notready", corev1.ConditionFalse),
		"shutdown": nodeWith("shutdown", corev1.ConditionFalse, outOfService),
		"drained":  nodeWith("drained", corev1.ConditionTrue, outOfService),
	}
	tests := []struct {
		name      string
		pods      []corev1.Pod
		gone      []string
		threshold int
		want      []string
		orphaned  []string // those of want that get the DisruptionTarget condition
	}{
		{name: "nothing to do", threshold: 10,
			pods: []corev1.Pod{pod("a", on("ready")), pod("b", phase(corev1.PodSucceeded), on("ready"))}},
		{name: "terminated pods over the threshold go oldest first", threshold: 2,
			pods: []corev1.Pod{
				pod("new", phase(corev1.PodSucceeded), age(time.Minute)),
				pod("old", phase(corev1.PodFailed), age(time.Hour)),
				pod("mid", phase(corev1.PodSucceeded), age(10*time.Minute)),
				pod("oldest", phase(corev1.PodSucceeded), age(2*time.Hour)),
				pod("running", age(3*time.Hour)),
			},
			want: []string{"oldest", "old"}},
		{name: "evicted pods go before older terminated ones", threshold: 1,
			pods: []corev1.Pod{
				pod("old", phase(corev1.PodSucceeded), age(time.Hour)),
				pod("evicted", evicted(), age(time.Minute)),
				pod("young", phase(corev1.PodFailed), age(time.Second)),
			},
			want: []string{"evicted", "old"}},
		{name: "equal ages go by name", threshold: 1,
			pods: []corev1.Pod{pod("b", phase(corev1.PodSucceeded)), pod("a", phase(corev1.PodSucceeded))},
			want: []string{"a"}},
		{name: "a negative threshold keeps every terminated pod", threshold: -1,
			pods: []corev1.Pod{pod("a", phase(corev1.PodSucceeded)), pod("b", phase(corev1.PodFailed))}},
		{name: "a zero threshold deletes every terminated pod", threshold: 0,
			pods: []corev1.Pod{pod("a", phase(corev1.PodSucceeded)), pod("b", phase(corev1.PodFailed)), pod("c")},
			want: []string{"a", "b"}},
		{name: "pods of gone nodes are orphaned, whatever their phase", threshold: 10, gone: []string{"lost"},
			pods: []corev1.Pod{pod("a", on("lost")), pod("b", on("lost"), phase(corev1.PodSucceeded)), pod("c", on("ready")),
				pod("d", on("missing-but-not-yet-gone"))},
			want: []string{"a", "b"}, orphaned: []string{"a", "b"}},
		{name: "terminating pods on out-of-service NotReady nodes", threshold: 10,
			pods: []corev1.Pod{
				pod("shut", on("shutdown"), terminating()),
				pod("shut-running", on("shutdown")),
				pod("notready", on("notready"), terminating()),
				pod("drained", on("drained"), terminating()),
			},
			want: []string{"shut"}},
		{name: "unscheduled terminating pods", threshold: 10,
			pods: []corev1.Pod{pod("unscheduled", terminating()), pod("pending", phase(corev1.PodPending)),
				pod("scheduled", on("ready"), terminating())},
			want: []string{"unscheduled"}},
		{name: "a pod is deleted once even if several rules apply", threshold: 0, gone: []string{"lost"},
			pods: []corev1.Pod{pod("a", on("lost"), phase(corev1.PodFailed))},
			want: []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gone := map[string]bool{}
			for _, g := range tt.gone {
				gone[g] = true
			}
			var got, orphaned []string
			for _, d := range plan(tt.pods, nodes, gone, tt.threshold) {
				got = append(got, d.pod.Name)
				if d.condition != nil {
					if d.condition.Type != corev1.DisruptionTarget || d.condition.Reason != "DeletionByPodGC" {
						t.Errorf("pod %s: condition %+v", d.pod.Name, d.condition)
					}
					orphaned = append(orphaned, d.pod.Name)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("deleted %v, want %v", got, tt.want)
			}
			if !slices.Equal(orphaned, tt.orphaned) {
				t.Errorf("orphaned %v, want %v", orphaned, tt.orphaned)
			}
		})
	}
}

func TestQuarantine(t *testing.T) {
	since := map[string]time.Time{}
	period := 40 * time.Second
	if due := quarantine(since, map[string]bool{"a": true}, t0, period); len(due) != 0 {
		t.Fatalf("a node just found missing is due: %v", due)
	}
	if due := quarantine(since, map[string]bool{"a": true, "b": true}, t0.Add(39*time.Second), period); len(due) != 0 {
		t.Fatalf("due before the quarantine ends: %v", due)
	}
	if due := quarantine(since, map[string]bool{"a": true, "b": true}, t0.Add(40*time.Second), period); !slices.Equal(due, []string{"a"}) {
		t.Fatalf("due %v, want [a]", due)
	}
	// A Node that reappears starts over when it goes missing again.
	quarantine(since, map[string]bool{"b": true}, t0.Add(41*time.Second), period)
	if due := quarantine(since, map[string]bool{"a": true, "b": true}, t0.Add(80*time.Second), period); !slices.Equal(due, []string{"b"}) {
		t.Fatalf("due %v, want [b]", due)
	}
	if _, ok := since["a"]; !ok {
		t.Fatalf("a missing again is not tracked")
	}
}

func TestSetConditionKeepsTransitionTimeWhenUnchanged(t *testing.T) {
	earlier, now := metav1.NewTime(t0), metav1.NewTime(t0.Add(time.Hour))
	c := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "X"}
	status := corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, LastTransitionTime: earlier}}}
	setCondition(&status, c, now)
	if got := status.Conditions[0]; !got.LastTransitionTime.Equal(&earlier) || got.Reason != "X" {
		t.Errorf("condition %+v, want reason X and transition time kept", got)
	}
	status = corev1.PodStatus{}
	setCondition(&status, c, now)
	if len(status.Conditions) != 1 || !status.Conditions[0].LastTransitionTime.Equal(&now) {
		t.Errorf("conditions %+v, want one set now", status.Conditions)
	}
}
