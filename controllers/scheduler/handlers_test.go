package scheduler

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
)

// newHandlerScheduler is a scheduler whose informer handlers can be called directly.
func newHandlerScheduler() *Scheduler {
	return &Scheduler{
		SchedulerName: DefaultSchedulerName,
		logger:        logr.Discard(),
		cache:         newSchedulerCache(),
		queue:         newSchedulingQueue(clocktesting.NewFakeClock(time.Unix(1000, 0))),
		pvs:           newPVAssumptions(),
	}
}

func version(p *corev1.Pod, rv string) *corev1.Pod {
	p = p.DeepCopy()
	p.ResourceVersion = rv
	return p
}

func TestPodEventsFeedTheQueueAndTheCache(t *testing.T) {
	s := newHandlerScheduler()
	s.onNodeAdd(node("a", "4", "8Gi"))
	pending := version(pod("p", "1", ""), "1")
	s.onPodAdd(pending)
	s.onPodAdd(version(on(pod("bound", "1", ""), "a"), "1"))
	other := version(pod("other", "", ""), "1")
	other.Spec.SchedulerName = "other-scheduler"
	s.onPodAdd(other)
	s.onPodAdd(func() *corev1.Pod {
		p := version(on(pod("done", "1", ""), "a"), "1")
		p.Status.Phase = corev1.PodSucceeded
		return p
	}())
	if st := s.Stats(); st.Pending != 1 || st.Pods != 1 {
		t.Fatalf("after adds: %d pending, %d pods on nodes; want the pending pod queued and the bound one counted", st.Pending, st.Pods)
	}

	// The scheduler places it; the binding shows up in the API.
	qp, info := s.queue.pop()
	if err := s.cache.assumePod(info, "a"); err != nil {
		t.Fatal(err)
	}
	s.queue.assumed(qp)
	statusOnly := version(pending, "2")
	s.onPodUpdate(pending, statusOnly) // an unscheduled version arriving late changes nothing
	if st := s.Stats(); st.Pending != 1 || st.Assumed != 1 {
		t.Fatalf("while binding: %+v", st)
	}
	bound := version(on(statusOnly, "a"), "3")
	s.onPodUpdate(statusOnly, bound)
	if st := s.Stats(); st.Pending != 0 || st.Assumed != 0 || st.Pods != 2 {
		t.Fatalf("after the binding landed: %+v, want no pending, 2 pods confirmed", st)
	}
	if cpu, _ := requested(t, s.cache, "a"); cpu != 2000 {
		t.Errorf("node a requests %dm, want 2000m: the confirmed pod counted once", cpu)
	}

	// Finishing frees the node; deletion of a finished pod is harmless.
	finished := version(bound, "4")
	finished.Status.Phase = corev1.PodFailed
	s.onPodUpdate(bound, finished)
	s.onPodDelete(toolscache.DeletedFinalStateUnknown{Key: "default/p", Obj: finished})
	if cpu, pods := requested(t, s.cache, "a"); cpu != 1000 || pods != 1 {
		t.Errorf("after the pod finished: %dm, %d pods, want the other pod only", cpu, pods)
	}
}

func TestPodRecreatedUnderTheSameNameIsANewPod(t *testing.T) {
	s := newHandlerScheduler()
	old := version(on(pod("p", "1", ""), "a"), "1")
	s.onPodAdd(old)
	recreated := version(pod("p", "1", ""), "2")
	recreated.UID = "uid-new"
	s.onPodUpdate(old, recreated)
	if st := s.Stats(); st.Pods != 0 || st.Pending != 1 {
		t.Errorf("after a delete and create merged into an update: %+v, want the old pod gone and the new one queued", st)
	}
}

func TestUnschedulablePodsRetryOnTheEventsThatMayHelp(t *testing.T) {
	s := newHandlerScheduler()
	s.onNodeAdd(node("a", "4", "8Gi"))
	s.onPodAdd(version(pod("big", "8", ""), "1"))
	qp, _ := s.queue.pop()
	s.queue.requeueUnschedulable(qp, nodeResourcesFit{}.events())

	heartbeat := node("a", "4", "8Gi")
	heartbeat.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}
	s.onNodeUpdate(node("a", "4", "8Gi"), heartbeat)
	relabelled := heartbeat.DeepCopy()
	relabelled.Labels["x"] = "y"
	s.onNodeUpdate(heartbeat, relabelled)
	if st := s.queue.state(qp.uid); st != stateUnschedulable {
		t.Fatalf("after a heartbeat and a label change: %v, want still unschedulable", st)
	}
	bigger := relabelled.DeepCopy()
	bigger.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("16")
	s.onNodeUpdate(relabelled, bigger)
	if st := s.queue.state(qp.uid); st != stateBackoff && st != stateActive {
		t.Fatalf("after the node grew: %v, want retried", st)
	}
}

func TestNodeChangeClassification(t *testing.T) {
	base := node("a", "4", "8Gi", "zone", "z1")
	tests := []struct {
		name   string
		change func(*corev1.Node)
		want   clusterEvent
	}{
		{"heartbeat", func(n *corev1.Node) {
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		}, 0},
		{"same allocatable written differently", func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("4000m") }, 0},
		{"allocatable", func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("8") }, nodeAllocatableChanged},
		{"labels", func(n *corev1.Node) { n.Labels["zone"] = "z2" }, nodeLabelsChanged},
		{"taints", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}} }, nodeTaintsChanged},
		{"cordon", func(n *corev1.Node) { n.Spec.Unschedulable = true }, nodeTaintsChanged},
	}
	for _, tc := range tests {
		changed := base.DeepCopy()
		tc.change(changed)
		if got := nodeChange(base, changed); got != tc.want {
			t.Errorf("%s: event %b, want %b", tc.name, got, tc.want)
		}
	}
}

func TestUnschedulablePatch(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const msg = "0/1 nodes are available: 1 Insufficient cpu."
	tests := []struct {
		name string
		pod  func(*corev1.Pod)
		want string
	}{
		{"first failure", func(*corev1.Pod) {},
			`{"metadata":{"uid":"uid-p"},"status":{"conditions":[{"lastTransitionTime":"2026-01-02T03:04:05Z","message":"0/1 nodes are available: 1 Insufficient cpu.","reason":"Unschedulable","status":"False","type":"PodScheduled"}]}}`},
		{"already reported", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: msg}}
		}, `null`},
		{"new message keeps the transition time", func(p *corev1.Pod) {
			p.Generation = 2
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "older"}}
		}, `{"metadata":{"uid":"uid-p"},"status":{"conditions":[{"message":"0/1 nodes are available: 1 Insufficient cpu.","observedGeneration":2,"reason":"Unschedulable","status":"False","type":"PodScheduled"}]}}`},
		{"nominated node is cleared", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: msg}}
			p.Status.NominatedNodeName = "a"
		}, `{"metadata":{"uid":"uid-p"},"status":{"conditions":[{"message":"0/1 nodes are available: 1 Insufficient cpu.","reason":"Unschedulable","status":"False","type":"PodScheduled"}],"nominatedNodeName":null}}`},
	}
	for _, tc := range tests {
		p := pod("p", "", "")
		tc.pod(p)
		patch := unschedulablePatch(p, corev1.PodReasonUnschedulable, msg, now)
		var got []byte
		if patch == nil {
			got = []byte("null")
		} else {
			var err error
			if got, err = json.Marshal(patch); err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestShrank(t *testing.T) {
	a := resources{milliCPU: 1000, memory: 10, scalar: map[corev1.ResourceName]int64{"example.com/gpu": 1}}
	same := a.clone()
	lessGPU := a.clone()
	lessGPU.scalar["example.com/gpu"] = 0
	more := a.clone()
	more.milliCPU = 2000
	if shrank(&a, &same) || shrank(&a, &more) || !shrank(&a, &lessGPU) || !shrank(&more, &a) {
		t.Errorf("shrank misjudges which changes free resources")
	}
}
