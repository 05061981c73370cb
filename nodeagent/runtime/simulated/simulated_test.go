package simulated

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/nodeagent/runtime"
)

func testPod(uid string, command ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p-" + uid, Namespace: "ns", UID: types.UID(uid)},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "img", Command: command}}},
	}
}

// events records container events.
type events struct {
	mu   sync.Mutex
	list []runtime.ContainerEvent
	ch   chan struct{}
}

func subscribe(r *Runtime) *events {
	e := &events{ch: make(chan struct{}, 100)}
	r.Subscribe(func(ev runtime.ContainerEvent) {
		e.mu.Lock()
		e.list = append(e.list, ev)
		e.mu.Unlock()
		e.ch <- struct{}{}
	})
	return e
}

// waitStopped waits for a Stopped event of id.
func (e *events) waitStopped(t *testing.T, id string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		e.mu.Lock()
		for _, ev := range e.list {
			if ev.Type == runtime.ContainerStopped && ev.ContainerID == id {
				e.mu.Unlock()
				return
			}
		}
		e.mu.Unlock()
		select {
		case <-e.ch:
		case <-deadline:
			t.Fatalf("no Stopped event of %s within %v", id, within)
		}
	}
}

func start(t *testing.T, r *Runtime, pod *corev1.Pod) (string, runtime.ContainerStatus) {
	t.Helper()
	ctx := context.Background()
	if err := r.RunPodSandbox(ctx, pod, "10.0.0.2"); err != nil {
		t.Fatal(err)
	}
	id, err := r.StartContainer(ctx, pod, &pod.Spec.Containers[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	return id, status(t, r, pod.UID, id)
}

func status(t *testing.T, r *Runtime, uid types.UID, id string) runtime.ContainerStatus {
	t.Helper()
	list, err := r.ListContainers(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("container %s not listed", id)
	return runtime.ContainerStatus{}
}

func TestContainersBehaveAsTheirCommandSays(t *testing.T) {
	tests := []struct {
		command  []string
		exits    bool
		exitCode int32
		reason   string
	}{
		{[]string{"true"}, true, 0, "Completed"},
		{[]string{"/bin/false"}, true, 1, "Error"},
		{[]string{"sleep", "0"}, true, 0, "Completed"},
		{[]string{"sleep", "x"}, true, 1, "Error"},
		{[]string{"sleep"}, true, 1, "Error"},
		{nil, false, 0, ""},
		{[]string{"nginx", "-g", "daemon off;"}, false, 0, ""},
		{[]string{"sleep", "1h"}, false, 0, ""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.command, " "), func(t *testing.T) {
			r := New(Options{})
			_, st := start(t, r, testPod("u", tc.command...))
			if !tc.exits {
				if st.State != runtime.ContainerRunning || st.StartedAt.IsZero() {
					t.Errorf("state = %+v, want running", st)
				}
				return
			}
			if st.State != runtime.ContainerExited || st.ExitCode != tc.exitCode || st.Reason != tc.reason || st.FinishedAt.Before(st.StartedAt) {
				t.Errorf("state = %+v, want exited %d %s", st, tc.exitCode, tc.reason)
			}
		})
	}
}

func TestSleepExitsAfterItsTimeWithAnEvent(t *testing.T) {
	r := New(Options{})
	ev := subscribe(r)
	id, st := start(t, r, testPod("u", "sleep", "0.2"))
	if st.State != runtime.ContainerRunning {
		t.Fatalf("state right after start = %s", st.State)
	}
	ev.waitStopped(t, id, 5*time.Second)
	st = status(t, r, "u", id)
	if st.State != runtime.ContainerExited || st.ExitCode != 0 || st.FinishedAt.Sub(st.StartedAt) < 200*time.Millisecond {
		t.Errorf("after sleeping: %+v", st)
	}
}

func TestStopIsImmediateWithExitCode137(t *testing.T) {
	r := New(Options{})
	ev := subscribe(r)
	ctx := context.Background()
	pod := testPod("u", "serve")
	id, _ := start(t, r, pod)
	if err := r.StopContainer(ctx, id, time.Hour); err != nil {
		t.Fatal(err)
	}
	ev.waitStopped(t, id, time.Second)
	if st := status(t, r, "u", id); st.State != runtime.ContainerExited || st.ExitCode != 137 || st.Reason != "Error" {
		t.Errorf("stopped = %+v", st)
	}
	if err := r.StopContainer(ctx, "unknown", 0); err != nil {
		t.Errorf("stopping an unknown container: %v", err)
	}

	// Stopping the sandbox stops every container and the sandbox, which stays listed until removed.
	id2, err := r.StartContainer(ctx, pod, &pod.Spec.Containers[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StopPodSandbox(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if st := status(t, r, "u", id2); st.State != runtime.ContainerExited {
		t.Errorf("container after the sandbox stopped = %+v", st)
	}
	sb, err := r.PodSandboxStatus(ctx, "u")
	if err != nil || sb.State != runtime.SandboxNotReady || sb.NodeName != "n1" || sb.IP != "10.0.0.2" {
		t.Errorf("sandbox = %+v, %v", sb, err)
	}
	if _, err := r.StartContainer(ctx, pod, &pod.Spec.Containers[0], 2); err == nil {
		t.Error("a container started in a stopped sandbox")
	}
	if err := r.RemovePodSandbox(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PodSandboxStatus(ctx, "u"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("removed sandbox: %v", err)
	}
	if list, _ := r.ListContainers(ctx, "u"); len(list) != 0 {
		t.Errorf("containers of a removed pod: %v", list)
	}
}

func TestLatencyDelaysTheStart(t *testing.T) {
	r := New(Options{Latency: 100 * time.Millisecond})
	began := time.Now()
	_, st := start(t, r, testPod("u", "serve"))
	if took := time.Since(began); took < 100*time.Millisecond || st.State != runtime.ContainerRunning {
		t.Errorf("start took %v, state %s", took, st.State)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pod := testPod("v", "serve")
	r.RunPodSandbox(context.Background(), pod, "10.0.0.3")
	if _, err := r.StartContainer(ctx, pod, &pod.Spec.Containers[0], 0); err == nil {
		t.Error("a canceled start succeeded")
	}
	if list, _ := r.ListContainers(context.Background(), "v"); len(list) != 0 {
		t.Errorf("a canceled start left %v", list)
	}
}

func TestRestorePodRebuildsWhatTheStatusShows(t *testing.T) {
	started := time.Now().Add(-time.Hour).Truncate(time.Second)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{
			{Name: "server", Image: "img", Command: []string{"serve"}},
			{Name: "napper", Image: "img", Command: []string{"sleep", "60"}},
			{Name: "crasher", Image: "img", Command: []string{"false"}},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.9", ContainerStatuses: []corev1.ContainerStatus{
			{Name: "server", RestartCount: 2, ContainerID: "simulated://aaa",
				State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, ContainerID: "simulated://old"}}},
			{Name: "napper", ContainerID: "simulated://bbb",
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}},
			{Name: "crasher", RestartCount: 3,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, ContainerID: "simulated://ccc"}}},
		}},
	}
	r := New(Options{})
	ctx := context.Background()
	if err := r.RestorePod(ctx, pod); err != nil {
		t.Fatal(err)
	}
	sb, err := r.PodSandboxStatus(ctx, "u")
	if err != nil || sb.State != runtime.SandboxReady || sb.IP != "10.0.0.9" {
		t.Fatalf("sandbox = %+v, %v", sb, err)
	}
	byID := map[string]runtime.ContainerStatus{}
	list, _ := r.ListContainers(ctx, "u")
	for _, c := range list {
		byID[c.ID] = c
	}
	if c := byID["aaa"]; c.State != runtime.ContainerRunning || c.Attempt != 2 || !c.StartedAt.Equal(started) {
		t.Errorf("server = %+v", c)
	}
	if c := byID["old"]; c.State != runtime.ContainerExited || c.Attempt != 1 || c.ExitCode != 1 {
		t.Errorf("server's last instance = %+v", c)
	}
	// The sleep of 60 s began an hour ago: it ended while nobody watched.
	if c := byID["bbb"]; c.State != runtime.ContainerExited || c.ExitCode != 0 || !c.FinishedAt.Equal(started.Add(time.Minute)) {
		t.Errorf("napper = %+v", c)
	}
	if c := byID["ccc"]; c.State != runtime.ContainerExited || c.Attempt != 3 {
		t.Errorf("crasher = %+v", c)
	}
	if len(list) != 4 {
		t.Errorf("instances = %d, want 4", len(list))
	}

	// Restoring twice, or a pod this runtime never ran, changes nothing.
	if err := r.RestorePod(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if again, _ := r.ListContainers(ctx, "u"); len(again) != 4 {
		t.Errorf("restoring twice left %d instances", len(again))
	}
	foreign := pod.DeepCopy()
	foreign.UID = "f"
	for i := range foreign.Status.ContainerStatuses {
		foreign.Status.ContainerStatuses[i].ContainerID = "containerd://x"
		foreign.Status.ContainerStatuses[i].LastTerminationState = corev1.ContainerState{}
	}
	r.RestorePod(ctx, foreign)
	if _, err := r.PodSandboxStatus(ctx, "f"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("a pod of another runtime was restored: %v", err)
	}
}

func TestSleepDuration(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
		ok   bool
	}{
		{[]string{"1"}, time.Second, true},
		{[]string{"1.5"}, 1500 * time.Millisecond, true},
		{[]string{"2m"}, 2 * time.Minute, true},
		{[]string{"1h", "30s"}, time.Hour + 30*time.Second, true},
		{[]string{"1d"}, 24 * time.Hour, true},
		{[]string{"-1"}, 0, false},
		{[]string{"NaN"}, 0, false},
		{[]string{"1x"}, 0, false},
		{nil, 0, false},
		{[]string{"1e30"}, 100 * 365 * 24 * time.Hour, true},
	} {
		got, err := sleepDuration(tc.args)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("sleep %v = %v, %v; want %v ok=%v", tc.args, got, err, tc.want, tc.ok)
		}
	}
}
