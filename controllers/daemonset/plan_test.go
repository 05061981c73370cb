package daemonset

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/controllers/internal/history"
)

var now = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

type podState int

const (
	pending   podState = iota
	ready              // ready for a minute
	justReady          // ready for a second
	failed
	succeeded
	terminating
)

// dsPod is a pod of ds named name for node, at revision hash, created age ago, in state st.
func dsPod(ds *appsv1.DaemonSet, name, node, hash string, st podState, age time.Duration) *corev1.Pod {
	p := newPod(ds, podTemplate(ds, hash), node)
	p.Name = name
	p.UID = types.UID("uid-" + name)
	p.CreationTimestamp = metav1.NewTime(now.Add(-age))
	p.Status.Phase = corev1.PodPending
	readyFor := func(d time.Duration) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-d))}}
	}
	switch st {
	case ready:
		readyFor(time.Minute)
	case justReady:
		readyFor(time.Second)
	case failed:
		p.Status.Phase = corev1.PodFailed
	case succeeded:
		p.Status.Phase = corev1.PodSucceeded
	case terminating:
		readyFor(time.Minute)
		p.DeletionTimestamp = ptr.To(metav1.NewTime(now))
	}
	return p
}

func nodes(names ...string) []*corev1.Node {
	var out []*corev1.Node
	for _, n := range names {
		out = append(out, newNode(n, map[string]string{"name": n}))
	}
	return out
}

func podNames(pods []*corev1.Pod) string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return strings.Join(names, ",")
}

func TestManage(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*appsv1.DaemonSet)
		nodes    []*corev1.Node
		pods     func(ds *appsv1.DaemonSet) []*corev1.Pod
		createOn string
		remove   string
		failed   string
	}{
		{
			name:  "every eligible node without a pod gets one",
			nodes: nodes("n1", "n2", "n3"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n2", "h1", ready, time.Hour)}
			},
			createOn: "n1,n3",
		},
		{
			name:   "pods on nodes that no longer fit are deleted",
			mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{"name": "n1"} },
			nodes:  nodes("n1", "n2"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h1", ready, time.Hour), dsPod(ds, "b", "n2", "h1", ready, time.Hour)}
			},
			remove: "b",
		},
		{
			name:  "surplus pods on a node are deleted, the oldest kept",
			nodes: nodes("n1"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "young", "n1", "h1", ready, time.Minute), dsPod(ds, "old", "n1", "h1", ready, time.Hour),
					dsPod(ds, "mid", "n1", "h1", pending, 10*time.Minute)}
			},
			remove: "mid,young",
		},
		{
			name:  "a failed pod is reported for deletion, and the node waits for it to go",
			nodes: nodes("n1"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h1", failed, time.Hour)}
			},
			failed: "a",
		},
		{
			name:  "a pod that exited is deleted to be made again",
			nodes: nodes("n1"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h1", succeeded, time.Hour)}
			},
			remove: "a",
		},
		{
			name:  "a terminating pod holds its node until gone",
			nodes: nodes("n1"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h1", terminating, time.Hour)}
			},
		},
		{
			name:  "an unscheduled pod for a node that is gone is deleted",
			nodes: nodes("n1"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h1", ready, time.Hour), dsPod(ds, "lost", "gone", "h1", pending, time.Hour)}
			},
			remove: "lost",
		},
		{
			name:  "a pod on a node with a new NoSchedule taint stays",
			nodes: []*corev1.Node{newNode("n1", nil, corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoSchedule})},
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h1", ready, time.Hour)}
			},
		},
		{
			name:   "during a surge the old pod goes once the new one is available",
			mutate: surge(1),
			nodes:  nodes("n1", "n2"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "old1", "n1", "h1", ready, time.Hour), dsPod(ds, "new1", "n1", "h2", ready, time.Minute),
					dsPod(ds, "old2", "n2", "h1", ready, time.Hour), dsPod(ds, "new2", "n2", "h2", pending, time.Minute)}
			},
			remove: "old1",
		},
		{
			name:   "during a surge a node left without a pod gets one at once",
			mutate: surge(1),
			nodes:  nodes("n1"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h1", terminating, time.Hour)}
			},
			createOn: "n1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := newDS()
			if tc.mutate != nil {
				tc.mutate(ds)
			}
			var pods []*corev1.Pod
			if tc.pods != nil {
				pods = tc.pods(ds)
			}
			d := manage(ds, tc.nodes, podsByNode(pods), "h2", now)
			var failedNames []string
			for _, f := range d.failed {
				failedNames = append(failedNames, f.pod.Name)
			}
			if got := strings.Join(d.createOn, ","); got != tc.createOn {
				t.Errorf("create on %q, want %q", got, tc.createOn)
			}
			if got := podNames(d.remove); got != tc.remove {
				t.Errorf("remove %q, want %q", got, tc.remove)
			}
			if got := strings.Join(failedNames, ","); got != tc.failed {
				t.Errorf("failed %q, want %q", got, tc.failed)
			}
		})
	}
}

func surge(n int32) func(*appsv1.DaemonSet) {
	return func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: ptr.To(intstr.FromInt32(n)), MaxUnavailable: ptr.To(intstr.FromInt32(0))}
	}
}

func TestRollingUpdate(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*appsv1.DaemonSet)
		nodes    []*corev1.Node
		pods     func(ds *appsv1.DaemonSet) []*corev1.Pod
		remove   string
		createOn string
	}{
		{
			name:  "one old pod at a time is replaced under maxUnavailable 1",
			nodes: nodes("n1", "n2", "n3"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h1", ready, time.Hour), dsPod(ds, "b", "n2", "h1", ready, time.Hour), dsPod(ds, "c", "n3", "h1", ready, time.Hour)}
			},
			remove: "a",
		},
		{
			name:  "a new pod not yet available uses up maxUnavailable",
			nodes: nodes("n1", "n2", "n3"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h2", pending, time.Minute), dsPod(ds, "b", "n2", "h1", ready, time.Hour), dsPod(ds, "c", "n3", "h1", ready, time.Hour)}
			},
		},
		{
			name:  "a node still without its new pod counts as unavailable",
			nodes: nodes("n1", "n2"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "b", "n2", "h1", ready, time.Hour)}
			},
		},
		{
			name:  "old pods that are unavailable anyway are replaced at once",
			nodes: nodes("n1", "n2", "n3"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h1", pending, time.Hour), dsPod(ds, "b", "n2", "h1", pending, time.Hour), dsPod(ds, "c", "n3", "h1", ready, time.Hour)}
			},
			remove: "a,b",
		},
		{
			name: "maxUnavailable is rounded up from a percentage",
			mutate: func(ds *appsv1.DaemonSet) {
				ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("50%"))
			},
			nodes: nodes("n1", "n2", "n3"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h1", ready, time.Hour), dsPod(ds, "b", "n2", "h1", ready, time.Hour), dsPod(ds, "c", "n3", "h1", ready, time.Hour)}
			},
			remove: "a,b",
		},
		{
			name:   "minReadySeconds keeps a just ready new pod unavailable",
			mutate: func(ds *appsv1.DaemonSet) { ds.Spec.MinReadySeconds = 30 },
			nodes:  nodes("n1", "n2"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h2", justReady, time.Minute), dsPod(ds, "b", "n2", "h1", ready, time.Hour)}
			},
		},
		{
			name:   "a surge starts new pods beside old ones on up to maxSurge nodes",
			mutate: surge(2),
			nodes:  nodes("n1", "n2", "n3"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h1", ready, time.Hour), dsPod(ds, "b", "n2", "h1", ready, time.Hour), dsPod(ds, "c", "n3", "h1", ready, time.Hour)}
			},
			createOn: "n1,n2",
		},
		{
			name:   "a surge waits for new pods to be available, then deletes the old ones",
			mutate: surge(1),
			nodes:  nodes("n1", "n2", "n3"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h1", ready, time.Hour), dsPod(ds, "a2", "n1", "h2", ready, time.Minute),
					dsPod(ds, "b", "n2", "h1", ready, time.Hour), dsPod(ds, "b2", "n2", "h2", pending, time.Minute),
					dsPod(ds, "c", "n3", "h1", ready, time.Hour)}
			},
			remove: "a",
		},
		{
			name:   "a surge replaces an old pod that is unavailable at once",
			mutate: surge(1),
			nodes:  nodes("n1", "n2"),
			pods: func(ds *appsv1.DaemonSet) []*corev1.Pod {
				return []*corev1.Pod{dsPod(ds, "a", "n1", "h1", pending, time.Hour), dsPod(ds, "b", "n2", "h1", ready, time.Hour)}
			},
			createOn: "n1,n2",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := newDS()
			if tc.mutate != nil {
				tc.mutate(ds)
			}
			remove, createOn := rollingUpdate(ds, tc.nodes, podsByNode(tc.pods(ds)), "h2", now)
			if got := podNames(remove); got != tc.remove {
				t.Errorf("remove %q, want %q", got, tc.remove)
			}
			if got := strings.Join(createOn, ","); got != tc.createOn {
				t.Errorf("create on %q, want %q", got, tc.createOn)
			}
		})
	}
}

func TestComputeStatus(t *testing.T) {
	ds := newDS()
	ds.Spec.MinReadySeconds = 30
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "worker"}
	worker := func(name string) *corev1.Node { return newNode(name, map[string]string{"role": "worker"}) }
	nodeList := []*corev1.Node{worker("n1"), worker("n2"), worker("n3"), worker("n4"), newNode("master", nil)}
	pods := []*corev1.Pod{
		dsPod(ds, "a", "n1", "h2", ready, time.Hour),
		dsPod(ds, "b", "n2", "h1", justReady, time.Hour),
		dsPod(ds, "c", "n3", "h2", pending, time.Hour),
		dsPod(ds, "m", "master", "h1", ready, time.Hour),
	}
	got := computeStatus(ds, nodeList, podsByNode(pods), "h2", now)
	want := appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 4, CurrentNumberScheduled: 3, NumberMisscheduled: 1,
		NumberReady: 2, NumberAvailable: 1, UpdatedNumberScheduled: 2, NumberUnavailable: 3,
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("status\n got %+v\nwant %+v", got, want)
	}
}

func TestExpiredRevisionsKeepTheLimitAndLiveOnes(t *testing.T) {
	rev := func(name string, n int64) *appsv1.ControllerRevision {
		return &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{history.HashLabel: name}},
			Revision: n, Data: runtime.RawExtension{Raw: []byte(name)}}
	}
	revs := []*appsv1.ControllerRevision{rev("r3", 3), rev("r1", 1), rev("r2", 2), rev("r4", 4), rev("r5", 5)}
	ds := newDS()
	livePod := dsPod(ds, "p", "n1", "r1", ready, time.Hour)
	tests := []struct {
		limit int32
		pods  []*corev1.Pod
		want  string
	}{
		{10, nil, ""},
		{2, nil, "r1,r2"},
		{2, []*corev1.Pod{livePod}, "r2,r3"},
		{0, []*corev1.Pod{livePod}, "r2,r3,r4"},
	}
	for _, tc := range tests {
		var got []string
		for _, r := range expiredRevisions(revs, revs[4], tc.pods, tc.limit) {
			got = append(got, r.Name)
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("limit %d with %d pods: expired %v, want %s", tc.limit, len(tc.pods), got, tc.want)
		}
	}
}

func TestSlowStartDoublesBatchesAndStopsAfterAFailure(t *testing.T) {
	var calls atomic.Int32
	attempted, err := slowStart(10, func() error { calls.Add(1); return nil })
	if attempted != 10 || err != nil || calls.Load() != 10 {
		t.Errorf("all succeed: attempted %d, calls %d, err %v", attempted, calls.Load(), err)
	}
	calls.Store(0)
	attempted, err = slowStart(10, func() error {
		if calls.Add(1) >= 2 {
			return errors.New("quota")
		}
		return nil
	})
	// Batches of 1 then 2: the second batch fails, so the remaining 7 are never tried.
	if attempted != 3 || err == nil || calls.Load() != 3 {
		t.Errorf("failing: attempted %d, calls %d, err %v; want 3 attempts and an error", attempted, calls.Load(), err)
	}
	if attempted, err := slowStart(0, func() error { t.Fatal("called"); return nil }); attempted != 0 || err != nil {
		t.Errorf("nothing to do: %d, %v", attempted, err)
	}
}

func TestExpectationsWaitForTheCacheToShowWrites(t *testing.T) {
	e := newExpectations()
	key := types.NamespacedName{Namespace: "ns", Name: "agent"}
	if !e.satisfied(key, now) {
		t.Fatal("nothing expected, yet not satisfied")
	}
	e.expect(key, 2, []types.UID{"x", "y"}, now)
	steps := []struct {
		do   func()
		want bool
	}{
		{func() {}, false},
		{func() { e.created(key); e.deleted(key, "x") }, false},
		{func() { e.created(key); e.created(key) }, false},
		{func() { e.deleted(key, "unrelated") }, false},
		{func() { e.deleted(key, "y") }, true},
	}
	for i, s := range steps {
		s.do()
		if got := e.satisfied(key, now); got != s.want {
			t.Fatalf("step %d: satisfied = %v, want %v", i, got, s.want)
		}
	}
	e.expect(key, 1, nil, now)
	if e.satisfied(key, now.Add(time.Minute)) {
		t.Error("satisfied before the creation showed")
	}
	if !e.satisfied(key, now.Add(expectationsTTL+time.Second)) {
		t.Error("still waiting after the expectations expired")
	}
	e.expect(key, 1, nil, now)
	e.forget(key)
	if !e.satisfied(key, now) {
		t.Error("forgotten expectations still wait")
	}
	other := types.NamespacedName{Namespace: "ns", Name: "other"}
	e.expect(key, 1, nil, now)
	if !e.satisfied(other, now) || e.satisfied(key, now) {
		t.Error("expectations of one DaemonSet affect another")
	}
}
