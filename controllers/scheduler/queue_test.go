package scheduler

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func newTestQueue() (*schedulingQueue, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	return newSchedulingQueue(clk), clk
}

// popNow pops a pod that must be active already.
func popNow(t *testing.T, q *schedulingQueue) *queuedPod {
	t.Helper()
	if q.counts().active == 0 {
		t.Fatalf("no active pod to pop (queue %+v)", q.counts())
	}
	qp, _ := q.pop()
	return qp
}

func withPriority(p *corev1.Pod, priority int32) *corev1.Pod {
	p.Spec.Priority = ptr.To(priority)
	return p
}

func TestQueueOrdersByPriorityThenArrival(t *testing.T) {
	q, clk := newTestQueue()
	for _, p := range []*corev1.Pod{pod("low", "", ""), withPriority(pod("high", "", ""), 1000), pod("low-later", "", ""), withPriority(pod("high-later", "", ""), 1000)} {
		q.add(p)
		clk.Step(time.Millisecond)
	}
	var order []string
	for range 4 {
		order = append(order, popNow(t, q).info.pod.Name)
	}
	want := []string{"high", "high-later", "low", "low-later"}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("pop order = %v, want %v", order, want)
		}
	}
}

func TestBackoffDoublesUpToTenSeconds(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := backoffFor(i + 1); got != w {
			t.Errorf("backoff after %d attempts = %v, want %v", i+1, got, w)
		}
	}
}

func TestUnschedulablePodWaitsForAnEventThatMayHelp(t *testing.T) {
	q, clk := newTestQueue()
	q.add(pod("p", "", ""))
	qp := popNow(t, q)
	q.requeueUnschedulable(qp, nodeAdded|nodeAllocatableChanged)
	clk.Step(5 * time.Second) // past its backoff
	q.flush()
	if s := q.state(qp.uid); s != stateUnschedulable {
		t.Fatalf("state = %v, want unschedulable until an event", s)
	}
	q.moveAll(nodeLabelsChanged)
	if s := q.state(qp.uid); s != stateUnschedulable {
		t.Fatalf("state after an unrelated event = %v, want still unschedulable", s)
	}
	q.moveAll(nodeAllocatableChanged)
	if s := q.state(qp.uid); s != stateActive {
		t.Fatalf("state after a helpful event = %v, want active", s)
	}
}

func TestUnschedulablePodMovedDuringBackoffWaitsItOut(t *testing.T) {
	q, clk := newTestQueue()
	q.add(pod("p", "", ""))
	qp := popNow(t, q)
	q.requeueUnschedulable(qp, nodeAdded)
	q.moveAll(nodeAdded)
	if s := q.state(qp.uid); s != stateBackoff {
		t.Fatalf("state = %v, want backoff: the first failure waits 1s", s)
	}
	clk.Step(999 * time.Millisecond)
	q.flush()
	if s := q.state(qp.uid); s != stateBackoff {
		t.Fatalf("state before 1s = %v, want backoff", s)
	}
	clk.Step(time.Millisecond)
	q.flush()
	if s := q.state(qp.uid); s != stateActive {
		t.Fatalf("state after 1s = %v, want active", s)
	}
	// A second failure backs off 2s.
	qp = popNow(t, q)
	q.requeueUnschedulable(qp, nodeAdded)
	q.moveAll(nodeAdded)
	clk.Step(1999 * time.Millisecond)
	q.flush()
	if s := q.state(qp.uid); s != stateBackoff {
		t.Fatalf("state 1.999s after the second failure = %v, want backoff", s)
	}
}

func TestUnschedulablePodIsRetriedAfterAMinuteAnyway(t *testing.T) {
	q, clk := newTestQueue()
	q.add(pod("p", "", ""))
	qp := popNow(t, q)
	q.requeueUnschedulable(qp, nodeAdded)
	clk.Step(59 * time.Second)
	q.flush()
	if s := q.state(qp.uid); s != stateUnschedulable {
		t.Fatalf("state after 59s = %v, want unschedulable", s)
	}
	clk.Step(time.Second)
	q.flush()
	if s := q.state(qp.uid); s != stateActive {
		t.Fatalf("state after 60s = %v, want active", s)
	}
}

func TestEventDuringAnAttemptRetriesAfterBackoff(t *testing.T) {
	q, _ := newTestQueue()
	q.add(pod("p", "", ""))
	q.add(pod("q", "", ""))
	p, other := popNow(t, q), popNow(t, q)
	q.moveAll(assignedPodRemoved) // while both are being tried
	q.requeueUnschedulable(p, nodeResourcesFit{}.events())
	q.requeueUnschedulable(other, nodeAffinityPlugin{}.events())
	if s := q.state(p.uid); s != stateBackoff {
		t.Errorf("pod whose rejection the event may lift: %v, want backoff", s)
	}
	if s := q.state(other.uid); s != stateUnschedulable {
		t.Errorf("pod the event cannot help: %v, want unschedulable", s)
	}
}

func TestPodChangesRetryUnschedulablePods(t *testing.T) {
	q, clk := newTestQueue()
	old := pod("p", "", "")
	old.ResourceVersion = "1"
	q.add(old)
	qp := popNow(t, q)
	q.requeueUnschedulable(qp, nodeAdded)
	clk.Step(2 * time.Second)

	statusOnly := old.DeepCopy()
	statusOnly.ResourceVersion = "2"
	statusOnly.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
	q.update(old, statusOnly)
	if s := q.state(qp.uid); s != stateUnschedulable {
		t.Fatalf("state after a status change = %v, want unschedulable", s)
	}
	tolerating := statusOnly.DeepCopy()
	tolerating.ResourceVersion = "3"
	tolerating.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	q.update(statusOnly, tolerating)
	if s := q.state(qp.uid); s != stateActive {
		t.Fatalf("state after a spec change = %v, want active", s)
	}
	if _, info := q.pop(); len(info.pod.Spec.Tolerations) != 1 {
		t.Errorf("popped pod is not the latest version")
	}
}

func TestPodChangedDuringAnAttemptIsRetried(t *testing.T) {
	q, _ := newTestQueue()
	old := pod("p", "", "")
	q.add(old)
	qp := popNow(t, q)
	changed := old.DeepCopy()
	changed.Labels["new"] = "label"
	q.update(old, changed)
	q.requeueUnschedulable(qp, nodeAdded)
	if s := q.state(qp.uid); s != stateBackoff {
		t.Errorf("state = %v, want backoff: the pod changed while it was tried", s)
	}
}

func TestGatedPodsWaitForTheirGates(t *testing.T) {
	q, _ := newTestQueue()
	gatedPod := pod("p", "", "")
	gatedPod.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "wait"}}
	q.add(gatedPod)
	if c := q.counts(); c.gated != 1 || c.active != 0 {
		t.Fatalf("counts = %+v, want one gated pod", c)
	}
	open := gatedPod.DeepCopy()
	open.Spec.SchedulingGates = nil
	q.update(gatedPod, open)
	if c := q.counts(); c.gated != 0 || c.active != 1 {
		t.Fatalf("counts after removing the gates = %+v, want one active pod", c)
	}
}

func TestDeletedPodsLeaveTheQueue(t *testing.T) {
	q, clk := newTestQueue()
	for _, name := range []string{"tried", "binding", "waiting", "active"} {
		q.add(pod(name, "", ""))
		clk.Step(time.Millisecond)
	}
	var popped []*queuedPod
	for range 3 {
		popped = append(popped, popNow(t, q))
	}
	byName := map[string]*queuedPod{}
	for _, qp := range popped {
		byName[qp.info.pod.Name] = qp
	}
	q.requeueUnschedulable(byName["waiting"], nodeAdded)
	q.assumed(byName["binding"])
	for _, name := range []string{"active", "tried", "binding", "waiting"} {
		q.delete(pod(name, "", "").UID)
	}
	// Pods being tried when deleted are dropped when they come back.
	q.requeueUnschedulable(byName["tried"], nodeAdded)
	q.requeueBackoff(byName["binding"])
	if c := q.counts(); c != (queueCounts{}) {
		t.Errorf("counts after deleting every pod = %+v, want none", c)
	}
	if q.assumed(byName["tried"]) {
		t.Errorf("a deleted pod was recorded as assumed")
	}
}

func TestFailuresAreReportedOncePerMessageAndInterval(t *testing.T) {
	q, clk := newTestQueue()
	q.add(pod("p", "", ""))
	qp := popNow(t, q)
	steps := []struct {
		advance time.Duration
		msg     string
		want    bool
	}{
		{0, "0/3 nodes are available", true},
		{time.Second, "0/3 nodes are available", false},
		{time.Second, "0/4 nodes are available", true},
		{time.Second, "0/4 nodes are available", false},
		{reportInterval, "0/4 nodes are available", true},
	}
	for i, s := range steps {
		clk.Step(s.advance)
		if got := q.shouldReport(qp, s.msg); got != s.want {
			t.Errorf("step %d: report %q = %v, want %v", i, s.msg, got, s.want)
		}
	}
}

func TestPopReturnsNilOnceClosed(t *testing.T) {
	q, _ := newTestQueue()
	done := make(chan *queuedPod)
	go func() {
		qp, _ := q.pop()
		done <- qp
	}()
	q.close()
	select {
	case qp := <-done:
		if qp != nil {
			t.Errorf("pop after close = %v, want nil", qp)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pop did not return after close")
	}
}
