package nodeagent

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/nodeagent/runtime"
)

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// inst is an instance of name: "run" running, or exited with code, ending at end.
func inst(name string, attempt int32, state string, code int32, end time.Time) runtime.ContainerStatus {
	c := runtime.ContainerStatus{ID: fmt.Sprintf("%s-%d", name, attempt), Name: name, Attempt: attempt, StartedAt: end.Add(-time.Second)}
	if state == "run" {
		c.State = runtime.ContainerRunning
	} else {
		c.State, c.ExitCode, c.FinishedAt = runtime.ContainerExited, code, end
	}
	return c
}

// describe renders actions as "start a#0 b#2; kill x; wait c until +10s".
func describe(a podActions, now time.Time) string {
	var parts []string
	var starts []string
	for _, s := range a.Start {
		starts = append(starts, fmt.Sprintf("%s#%d", s.Container.Name, s.Attempt))
	}
	if len(starts) > 0 {
		parts = append(parts, "start "+strings.Join(starts, " "))
	}
	if len(a.Kill) > 0 {
		parts = append(parts, "kill "+strings.Join(a.Kill, " "))
	}
	var waits []string
	for name, w := range a.Waiting {
		waits = append(waits, name+" "+w.Reason)
	}
	slices.Sort(waits)
	if len(waits) > 0 {
		parts = append(parts, "wait "+strings.Join(waits, " ")+" until +"+a.RetryAt.Sub(now).String())
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

func TestComputePodActions(t *testing.T) {
	always, never, onFailure := corev1.RestartPolicyAlways, corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure
	now := t0.Add(time.Minute)
	tests := []struct {
		name      string
		spec      *corev1.PodSpec
		instances []runtime.ContainerStatus
		backoff   restartBackoff
		statuses  []corev1.ContainerStatus
		want      string
	}{
		{"a new pod starts its app containers", specOf(always, nil, nil, "a", "b"), nil, nil, nil, "start a#0 b#0"},
		{"running containers are left alone", specOf(always, nil, nil, "a"), []runtime.ContainerStatus{inst("a", 0, "run", 0, t0)}, nil, nil, "nothing"},
		{"the first init container starts alone", specOf(always, []string{"i1", "i2"}, nil, "a"), nil, nil, nil, "start i1#0"},
		{"a running init container is waited for", specOf(always, []string{"i1", "i2"}, nil, "a"),
			[]runtime.ContainerStatus{inst("i1", 0, "run", 0, t0)}, nil, nil, "nothing"},
		{"the next init container follows a success", specOf(always, []string{"i1", "i2"}, nil, "a"),
			[]runtime.ContainerStatus{inst("i1", 0, "exit", 0, t0)}, nil, nil, "start i2#0"},
		{"app containers follow the last init container", specOf(always, []string{"i1", "i2"}, nil, "a"),
			[]runtime.ContainerStatus{inst("i1", 0, "exit", 0, t0), inst("i2", 0, "exit", 0, t0)}, nil, nil, "start a#0"},
		{"a failed init container restarts under OnFailure", specOf(onFailure, []string{"i1"}, nil, "a"),
			[]runtime.ContainerStatus{inst("i1", 0, "exit", 1, t0)}, nil, nil, "start i1#1"},
		{"a failed init container ends a Never pod", specOf(never, []string{"i1"}, nil, "a"),
			[]runtime.ContainerStatus{inst("i1", 0, "exit", 1, t0)}, nil, nil, "nothing"},
		{"a failed init container backs off", specOf(always, []string{"i1"}, nil, "a"),
			[]runtime.ContainerStatus{inst("i1", 1, "exit", 1, now.Add(-time.Second))}, restartBackoff{backoffKey("i1", ""): 10 * time.Second}, nil,
			"wait i1 CrashLoopBackOff until +9s"},
		{"init containers are not run again once an app container ran", specOf(always, []string{"i1"}, nil, "a"),
			[]runtime.ContainerStatus{inst("a", 0, "run", 0, t0)}, nil, nil, "nothing"},
		{"an exited container restarts at once the first time", specOf(always, nil, nil, "a"),
			[]runtime.ContainerStatus{inst("a", 0, "exit", 0, now)}, nil, nil, "start a#1"},
		{"an exited container waits out its back-off", specOf(always, nil, nil, "a"),
			[]runtime.ContainerStatus{inst("a", 3, "exit", 1, now.Add(-5*time.Second))}, restartBackoff{backoffKey("a", ""): 40 * time.Second}, nil,
			"wait a CrashLoopBackOff until +35s"},
		{"an exited container restarts once its back-off is over", specOf(always, nil, nil, "a"),
			[]runtime.ContainerStatus{inst("a", 3, "exit", 1, now.Add(-41*time.Second))}, restartBackoff{backoffKey("a", ""): 40 * time.Second}, nil,
			"start a#4"},
		{"exit 0 is not restarted under OnFailure", specOf(onFailure, nil, nil, "a", "b"),
			[]runtime.ContainerStatus{inst("a", 0, "exit", 0, now), inst("b", 0, "exit", 2, now)}, nil, nil, "start b#1"},
		{"nothing restarts under Never", specOf(never, nil, nil, "a", "b"),
			[]runtime.ContainerStatus{inst("a", 0, "exit", 0, now), inst("b", 0, "exit", 2, now)}, nil, nil, "nothing"},
		{"sidecars start before the next init container and the app", specOf(always, nil, []string{"s"}, "a"), nil, nil, nil, "start s#0"},
		{"app containers start once the sidecar runs", specOf(always, nil, []string{"s"}, "a"),
			[]runtime.ContainerStatus{inst("s", 0, "run", 0, t0)}, nil, nil, "start a#0"},
		{"a sidecar restarts while the app runs, whatever the policy", specOf(never, nil, []string{"s"}, "a"),
			[]runtime.ContainerStatus{inst("s", 0, "exit", 1, now), inst("a", 0, "run", 0, t0)}, nil, nil, "start s#1"},
		{"sidecars stop once the app containers are done", specOf(never, nil, []string{"s"}, "a"),
			[]runtime.ContainerStatus{inst("s", 0, "run", 0, t0), inst("a", 0, "exit", 0, now)}, nil, nil, "kill s-0"},
		{"a container the runtime lost but the API saw end under Never is not run again", specOf(never, nil, nil, "a"),
			nil, nil, []corev1.ContainerStatus{exited("a", 0)}, "nothing"},
		{"a container the runtime lost while running restarts with the next attempt", specOf(always, nil, nil, "a"),
			nil, nil, []corev1.ContainerStatus{{Name: "a", RestartCount: 2, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0)}}}},
			"start a#3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}, Spec: *tc.spec}
			pod.Status.ContainerStatuses = tc.statuses
			b := tc.backoff
			if b == nil {
				b = restartBackoff{}
			}
			if got := describe(computePodActions(pod, tc.instances, b, now), now); got != tc.want {
				t.Errorf("actions = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCrashLoopBackOffMessageIsUpstreams(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "prod", UID: "1234"}, Spec: *specOf(corev1.RestartPolicyAlways, nil, nil, "app")}
	now := t0
	b := restartBackoff{backoffKey("app", ""): 20 * time.Second}
	a := computePodActions(pod, []runtime.ContainerStatus{inst("app", 2, "exit", 1, now)}, b, now)
	want := "back-off 20s restarting failed container=app pod=web_prod(1234)"
	if got := a.Waiting["app"].Message; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}

func TestRestartBackoffDoublesToFiveMinutesAndResetsAfterALongRun(t *testing.T) {
	b := restartBackoff{}
	key := backoffKey("c", "img")
	short := func(end time.Time) runtime.ContainerStatus {
		return runtime.ContainerStatus{StartedAt: end.Add(-time.Second), FinishedAt: end}
	}
	now := t0
	if _, _, wait := b.wait(key, short(now), now); wait {
		t.Fatal("first restart must not wait")
	}
	var delays []time.Duration
	for range 8 {
		b.restarted(key, short(now))
		until, delay, wait := b.wait(key, short(now), now)
		if !wait || !until.Equal(now.Add(delay)) {
			t.Fatalf("after a restart and an exit: wait %v until %v delay %v", wait, until, delay)
		}
		if _, _, wait := b.wait(key, short(now), now.Add(delay)); wait {
			t.Fatalf("still waiting once %v passed", delay)
		}
		delays = append(delays, delay)
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second,
		300 * time.Second, 300 * time.Second, 300 * time.Second}
	if !slices.Equal(delays, want) {
		t.Errorf("delays = %v, want %v", delays, want)
	}

	long := runtime.ContainerStatus{StartedAt: now.Add(-11 * time.Minute), FinishedAt: now}
	if _, _, wait := b.wait(key, long, now); wait {
		t.Error("a container that ran 11 minutes must restart at once")
	}
	b.restarted(key, long)
	if _, delay, _ := b.wait(key, short(now), now); delay != 10*time.Second {
		t.Errorf("delay after a long run = %v, want 10s", delay)
	}
	if _, _, wait := b.wait(backoffKey("c", "img2"), short(now), now); wait {
		t.Error("a new image must start over")
	}
}

func TestStaleInstancesKeepTheNewestTwoOfEachContainer(t *testing.T) {
	got := staleInstances([]runtime.ContainerStatus{
		inst("a", 0, "exit", 1, t0), inst("a", 3, "run", 0, t0), inst("a", 1, "exit", 1, t0), inst("a", 2, "exit", 1, t0),
		inst("b", 0, "exit", 1, t0), inst("b", 1, "run", 0, t0),
	})
	slices.Sort(got)
	if want := []string{"a-0", "a-1"}; !slices.Equal(got, want) {
		t.Errorf("stale = %v, want %v", got, want)
	}
}

func TestNextProbeChange(t *testing.T) {
	started := t0
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "slow", ReadinessProbe: &corev1.Probe{InitialDelaySeconds: 30}, StartupProbe: &corev1.Probe{InitialDelaySeconds: 5}},
		{Name: "plain"},
	}}}
	instances := []runtime.ContainerStatus{
		{Name: "slow", State: runtime.ContainerRunning, StartedAt: started},
		{Name: "plain", State: runtime.ContainerRunning, StartedAt: started},
	}
	for _, tc := range []struct {
		now  time.Time
		want time.Time
	}{
		{started, started.Add(5 * time.Second)},
		{started.Add(5 * time.Second), started.Add(30 * time.Second)},
		{started.Add(31 * time.Second), time.Time{}},
	} {
		if got := nextProbeChange(pod, instances, tc.now); !got.Equal(tc.want) {
			t.Errorf("at +%v: next = %v, want %v", tc.now.Sub(started), got, tc.want)
		}
	}
	ready := func(now time.Time) bool {
		st := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}}
		setReadiness(&st, &pod.Spec.Containers[0], false, now)
		return st.Ready && ptr.Deref(st.Started, false)
	}
	if ready(started.Add(29*time.Second)) || !ready(started.Add(30*time.Second)) {
		t.Error("a readiness probe must pass at its initial delay, not before")
	}
}
