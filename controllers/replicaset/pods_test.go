package replicaset

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func testPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name),
			Labels: map[string]string{"app": "web", "tier": "front"}, CreationTimestamp: metav1.NewTime(t0)},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func readyAt(at time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady,
			Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)})
	}
}

func cost(v string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.PodDeletionCost: v} }
}

func restarts(n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "c", RestartCount: n})
	}
}

func sidecarRestarted(n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", RestartCount: n}}
	}
}

func created(at time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(at) }
}

func deleting() podOpt {
	return func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) }
}

func labeled(l map[string]string) podOpt { return func(p *corev1.Pod) { p.Labels = l } }

// TestPodsToDeleteOrder checks each rule of the deletion order: in every case "first" goes before
// "second", whichever order they come in.
func TestPodsToDeleteOrder(t *testing.T) {
	now := t0.Add(time.Hour)
	tests := []struct {
		name          string
		first, second *corev1.Pod
		related       []*corev1.Pod
	}{
		{"unassigned before assigned", testPod("a", phase(corev1.PodRunning)), testPod("b", onNode("n1"), phase(corev1.PodPending)), nil},
		{"pending before unknown", testPod("a", onNode("n1"), phase(corev1.PodPending)), testPod("b", onNode("n1"), phase(corev1.PodUnknown)), nil},
		{"unknown before running", testPod("a", onNode("n1"), phase(corev1.PodUnknown)), testPod("b", onNode("n1")), nil},
		{"not ready before ready", testPod("a", onNode("n1")), testPod("b", onNode("n1"), readyAt(t0)), nil},
		{"lower deletion cost first", testPod("a", onNode("n1"), readyAt(t0), cost("-10")),
			testPod("b", onNode("n1"), readyAt(now.Add(-time.Second)), cost("5")), nil},
		{"an invalid deletion cost counts as 0", testPod("a", onNode("n1"), readyAt(t0), cost("+7")),
			testPod("b", onNode("n1"), readyAt(t0), cost("1")), nil},
		{"doubled up on a node before alone",
			testPod("a", onNode("n1"), readyAt(t0)), testPod("b", onNode("n2"), readyAt(now.Add(-time.Second))),
			[]*corev1.Pod{testPod("x", onNode("n1")), testPod("y", onNode("n1")), testPod("z", onNode("n2"))}},
		{"related pods that finished do not count", testPod("a", onNode("n2"), readyAt(now.Add(-time.Second))),
			testPod("b", onNode("n1"), readyAt(t0)),
			[]*corev1.Pod{testPod("x", onNode("n1"), phase(corev1.PodSucceeded)), testPod("y", onNode("n1"), deleting())}},
		{"ready for less time before longer", testPod("a", onNode("n1"), readyAt(now.Add(-time.Minute))),
			testPod("b", onNode("n1"), readyAt(now.Add(-10*time.Minute))), nil},
		{"more restarts before fewer", testPod("a", onNode("n1"), readyAt(t0), restarts(5)),
			testPod("b", onNode("n1"), readyAt(t0), restarts(1)), nil},
		{"more sidecar restarts before fewer", testPod("a", onNode("n1"), readyAt(t0), sidecarRestarted(3)),
			testPod("b", onNode("n1"), readyAt(t0)), nil},
		{"newer before older", testPod("a", onNode("n1"), created(now.Add(-time.Minute))),
			testPod("b", onNode("n1"), created(now.Add(-time.Hour))), nil},
		{"ages in the same power-of-two bucket tie, then the UID decides",
			testPod("a", onNode("n1"), created(now.Add(-70*time.Second))),
			testPod("b", onNode("n1"), created(now.Add(-75*time.Second))), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, pods := range [][]*corev1.Pod{{tt.first, tt.second}, {tt.second, tt.first}} {
				got := podsToDelete(pods, tt.related, 1, now)
				if len(got) != 1 || got[0].Name != tt.first.Name {
					t.Fatalf("deleted %s, want %s", got[0].Name, tt.first.Name)
				}
			}
		})
	}
}

func TestPodsToDeletePicksTheFirstInOrder(t *testing.T) {
	now := t0.Add(time.Hour)
	pods := []*corev1.Pod{
		testPod("ready-old", onNode("n1"), readyAt(t0)),
		testPod("running", onNode("n1")),
		testPod("pending", onNode("n1"), phase(corev1.PodPending)),
		testPod("unscheduled", phase(corev1.PodPending)),
		testPod("ready-new", onNode("n1"), readyAt(now.Add(-time.Second))),
	}
	got := podsToDelete(pods, nil, 4, now)
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	if want := "unscheduled pending running ready-new"; strings.Join(names, " ") != want {
		t.Errorf("deleted %v, want %s", names, want)
	}
	if all := podsToDelete(pods, nil, 9, now); len(all) != len(pods) {
		t.Errorf("asked for more than there are: got %d", len(all))
	}
	if pods[0].Name != "ready-old" {
		t.Errorf("the caller's slice was reordered")
	}
}

func TestDeletionCost(t *testing.T) {
	for v, want := range map[string]int32{"": 0, "0": 0, "12": 12, "-3": -3, "+3": 0, "007": 0, "x": 0,
		"2147483647": 2147483647, "2147483648": 0} {
		if got := deletionCost(testPod("p", cost(v))); got != want {
			t.Errorf("deletion cost %q = %d, want %d", v, got, want)
		}
	}
	if got := deletionCost(testPod("p")); got != 0 {
		t.Errorf("no annotation: %d", got)
	}
}

func TestCalculateStatus(t *testing.T) {
	now := t0.Add(time.Minute)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Generation: 4},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(4)), MinReadySeconds: 30,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}}}},
	}
	active := []*corev1.Pod{
		testPod("available", readyAt(now.Add(-time.Minute))),
		testPod("just-ready", readyAt(now.Add(-10*time.Second))),
		testPod("not-ready"),
		testPod("half-labeled", labeled(map[string]string{"app": "web"})),
	}
	terminating := []*corev1.Pod{testPod("going", deleting())}
	failure := errors.New("pods \"web-x\" is forbidden: exceeded quota")

	tests := []struct {
		name      string
		current   []appsv1.ReplicaSetCondition
		err       error
		active    []*corev1.Pod
		wantCond  string // the ReplicaFailure reason, "" for none
		wantSince time.Time
	}{
		{name: "counts without failure", active: active},
		{name: "a failed creation", err: failure, active: active[:3], wantCond: "FailedCreate", wantSince: now},
		{name: "a failed deletion", err: failure, active: append(active, testPod("extra")), wantCond: "FailedDelete", wantSince: now},
		{name: "an existing failure keeps its time", err: failure, active: active[:3], wantCond: "FailedCreate", wantSince: t0,
			current: []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
				Reason: "FailedCreate", Message: "old", LastTransitionTime: metav1.NewTime(t0)}}},
		{name: "success clears the failure", active: active,
			current: []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := rs.DeepCopy()
			rs.Status.Conditions = tt.current
			s := calculateStatus(rs, tt.active, terminating, tt.err, now)
			if s.Replicas != int32(len(tt.active)) || s.ObservedGeneration != 4 || ptr.Deref(s.TerminatingReplicas, -1) != 1 {
				t.Errorf("replicas %d, observed %d, terminating %v", s.Replicas, s.ObservedGeneration, s.TerminatingReplicas)
			}
			if len(tt.active) >= 4 && (s.FullyLabeledReplicas != int32(len(tt.active))-1 || s.ReadyReplicas != 2 || s.AvailableReplicas != 1) {
				t.Errorf("fully labeled %d, ready %d, available %d; want %d, 2, 1", s.FullyLabeledReplicas, s.ReadyReplicas,
					s.AvailableReplicas, len(tt.active)-1)
			}
			c := condition(s, appsv1.ReplicaSetReplicaFailure)
			switch {
			case tt.wantCond == "" && c != nil:
				t.Errorf("unexpected condition %+v", c)
			case tt.wantCond != "" && (c == nil || c.Reason != tt.wantCond || c.Status != corev1.ConditionTrue ||
				!c.LastTransitionTime.Time.Equal(tt.wantSince)):
				t.Errorf("condition %+v, want reason %s since %v", c, tt.wantCond, tt.wantSince)
			}
		})
	}
}

func TestUntilNextAvailable(t *testing.T) {
	now := t0.Add(10 * time.Second)
	pods := []*corev1.Pod{
		testPod("long-ready", readyAt(t0.Add(-time.Hour))),
		testPod("ready-2s-ago", readyAt(now.Add(-2*time.Second))),
		testPod("ready-1s-ago", readyAt(now.Add(-time.Second))),
		testPod("not-ready"),
	}
	if got := untilNextAvailable(pods, 5, now); got < 3*time.Second || got > 3*time.Second+time.Second {
		t.Errorf("next availability in %v, want just over 3s", got)
	}
	if got := untilNextAvailable(pods, 0, now); got != 0 {
		t.Errorf("without minReadySeconds: %v", got)
	}
	if got := untilNextAvailable(pods[:1], 5, now); got != 0 {
		t.Errorf("all available: %v", got)
	}
}

func TestSlowStartBatch(t *testing.T) {
	tests := []struct {
		name                string
		count, failFrom     int // calls from failFrom on (1-based) fail; 0: none
		wantCalls, wantSucc int
		wantErr             bool
	}{
		{name: "all succeed in batches 1, 2, 4, 3", count: 10, wantCalls: 10, wantSucc: 10},
		{name: "the first failure stops at one call", count: 10, failFrom: 1, wantCalls: 1, wantSucc: 0, wantErr: true},
		{name: "a failing batch ends the creations", count: 10, failFrom: 4, wantCalls: 7, wantSucc: 3, wantErr: true},
		{name: "nothing to do", count: 0, wantCalls: 0, wantSucc: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			succ, err := slowStartBatch(tt.count, slowStartInitialBatchSize, func() error {
				if n := int(calls.Add(1)); tt.failFrom > 0 && n >= tt.failFrom {
					return errors.New("quota")
				}
				return nil
			})
			if int(calls.Load()) != tt.wantCalls || succ != tt.wantSucc || (err != nil) != tt.wantErr {
				t.Errorf("calls %d, successes %d, err %v; want %d, %d, error %v", calls.Load(), succ, err,
					tt.wantCalls, tt.wantSucc, tt.wantErr)
			}
		})
	}
}

func TestPodFromTemplate(t *testing.T) {
	template := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"},
			Finalizers: []string{"example.com/keep"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}
	ref := metav1.NewControllerRef(&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "u"}},
		appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))
	pod := podFromTemplate(template, "ns", "web", ref)
	if pod.GenerateName != "web-" || pod.Namespace != "ns" || pod.Labels["app"] != "web" || pod.Annotations["a"] != "b" ||
		len(pod.Finalizers) != 1 || pod.Spec.Containers[0].Image != "i" {
		t.Errorf("pod %+v", pod.ObjectMeta)
	}
	if len(pod.OwnerReferences) != 1 || !*pod.OwnerReferences[0].Controller || !*pod.OwnerReferences[0].BlockOwnerDeletion {
		t.Errorf("owners %+v", pod.OwnerReferences)
	}
	pod.Labels["app"] = "changed"
	pod.Spec.Containers[0].Image = "changed"
	if template.Labels["app"] != "web" || template.Spec.Containers[0].Image != "i" {
		t.Error("the pod shares maps or slices with the template")
	}
	long := strings.Repeat("a", 253)
	if p := podFromTemplate(template, "ns", long, nil); p.GenerateName != long {
		t.Errorf("a name too long for a dash gets one: %d chars", len(p.GenerateName))
	}
}
