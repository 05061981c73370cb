package nodeagent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/nodeagent/runtime"
)

func running(name string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Started: ptr.To(true), Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func exited(name string, code int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: false, Started: ptr.To(false),
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
}

func waiting(name, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func crashLooping(name string, code int32) corev1.ContainerStatus {
	s := waiting(name, reasonCrashLoopBackOff)
	s.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: code}
	return s
}

func specOf(policy corev1.RestartPolicy, inits []string, sidecars []string, apps ...string) *corev1.PodSpec {
	spec := &corev1.PodSpec{RestartPolicy: policy}
	for _, n := range inits {
		spec.InitContainers = append(spec.InitContainers, corev1.Container{Name: n})
	}
	for _, n := range sidecars {
		spec.InitContainers = append(spec.InitContainers, corev1.Container{Name: n, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)})
	}
	for _, n := range apps {
		spec.Containers = append(spec.Containers, corev1.Container{Name: n})
	}
	return spec
}

func TestPodPhase(t *testing.T) {
	always, never, onFailure := corev1.RestartPolicyAlways, corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure
	tests := []struct {
		name     string
		spec     *corev1.PodSpec
		statuses []corev1.ContainerStatus
		terminal bool
		want     corev1.PodPhase
	}{
		{"no status yet is Pending", specOf(always, nil, nil, "a"), nil, false, corev1.PodPending},
		{"waiting to be created is Pending", specOf(always, nil, nil, "a"), []corev1.ContainerStatus{waiting("a", reasonContainerCreating)}, false, corev1.PodPending},
		{"all running is Running", specOf(always, nil, nil, "a", "b"), []corev1.ContainerStatus{running("a"), running("b")}, false, corev1.PodRunning},
		{"one running one waiting is Pending", specOf(always, nil, nil, "a", "b"), []corev1.ContainerStatus{running("a"), waiting("b", reasonContainerCreating)}, false, corev1.PodPending},
		{"one running one unknown is Pending", specOf(always, nil, nil, "a", "b"), []corev1.ContainerStatus{running("a")}, false, corev1.PodPending},
		{"crash looping under Always is Running", specOf(always, nil, nil, "a"), []corev1.ContainerStatus{crashLooping("a", 1)}, false, corev1.PodRunning},
		{"all exited under Always is Running (restarting)", specOf(always, nil, nil, "a"), []corev1.ContainerStatus{exited("a", 0)}, false, corev1.PodRunning},
		{"all exited 0 under Never is Succeeded", specOf(never, nil, nil, "a", "b"), []corev1.ContainerStatus{exited("a", 0), exited("b", 0)}, false, corev1.PodSucceeded},
		{"one failed under Never is Failed", specOf(never, nil, nil, "a", "b"), []corev1.ContainerStatus{exited("a", 0), exited("b", 2)}, false, corev1.PodFailed},
		{"one failed one running under Never is Running", specOf(never, nil, nil, "a", "b"), []corev1.ContainerStatus{exited("a", 2), running("b")}, false, corev1.PodRunning},
		{"all exited 0 under OnFailure is Succeeded", specOf(onFailure, nil, nil, "a"), []corev1.ContainerStatus{exited("a", 0)}, false, corev1.PodSucceeded},
		{"a failure under OnFailure is Running (restarting)", specOf(onFailure, nil, nil, "a"), []corev1.ContainerStatus{crashLooping("a", 1)}, false, corev1.PodRunning},
		{"terminal with all exited 0 is Succeeded whatever the policy", specOf(always, nil, nil, "a"), []corev1.ContainerStatus{exited("a", 0)}, true, corev1.PodSucceeded},
		{"terminal with a kill is Failed", specOf(always, nil, nil, "a"), []corev1.ContainerStatus{exited("a", 137)}, true, corev1.PodFailed},
		{"init container running is Pending", specOf(always, []string{"i"}, nil, "a"),
			[]corev1.ContainerStatus{running("i"), waiting("a", reasonPodInitializing)}, false, corev1.PodPending},
		{"init container failed under Never is Failed", specOf(never, []string{"i"}, nil, "a"),
			[]corev1.ContainerStatus{exited("i", 1), waiting("a", reasonPodInitializing)}, false, corev1.PodFailed},
		{"init container crash looping under Always is Pending", specOf(always, []string{"i"}, nil, "a"),
			[]corev1.ContainerStatus{crashLooping("i", 1), waiting("a", reasonPodInitializing)}, false, corev1.PodPending},
		{"init done and app running is Running", specOf(always, []string{"i"}, nil, "a"),
			[]corev1.ContainerStatus{exited("i", 0), running("a")}, false, corev1.PodRunning},
		{"sidecar running and started, app running is Running", specOf(always, nil, []string{"s"}, "a"),
			[]corev1.ContainerStatus{running("s"), running("a")}, false, corev1.PodRunning},
		{"sidecar stopped after app done under Never is Succeeded", specOf(never, nil, []string{"s"}, "a"),
			[]corev1.ContainerStatus{exited("s", 137), exited("a", 0)}, false, corev1.PodSucceeded},
		{"sidecar restarting after app started stays Running", specOf(always, nil, []string{"s"}, "a"),
			[]corev1.ContainerStatus{crashLooping("s", 1), running("a")}, false, corev1.PodRunning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := podPhase(tc.spec, tc.statuses, tc.terminal); got != tc.want {
				t.Errorf("phase = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPodConditions(t *testing.T) {
	gate := corev1.PodReadinessGate{ConditionType: "example.com/gate"}
	tests := []struct {
		name           string
		spec           *corev1.PodSpec
		others         []corev1.PodCondition
		statuses       []corev1.ContainerStatus
		phase          corev1.PodPhase
		want           map[corev1.PodConditionType]string // status/reason
		wantMessageOf  corev1.PodConditionType
		wantMessage    string
		sandboxPresent bool
	}{
		{
			name: "all ready", spec: specOf(corev1.RestartPolicyAlways, nil, nil, "a"), sandboxPresent: true,
			statuses: []corev1.ContainerStatus{running("a")}, phase: corev1.PodRunning,
			want: map[corev1.PodConditionType]string{corev1.PodReadyToStartContainers: "True/", corev1.PodInitialized: "True/",
				corev1.ContainersReady: "True/", corev1.PodReady: "True/", corev1.PodScheduled: "True/"},
		},
		{
			name: "no sandbox yet", spec: specOf(corev1.RestartPolicyAlways, nil, nil, "a"),
			statuses: []corev1.ContainerStatus{waiting("a", reasonContainerCreating)}, phase: corev1.PodPending,
			want: map[corev1.PodConditionType]string{corev1.PodReadyToStartContainers: "False/",
				corev1.ContainersReady: "False/ContainersNotReady", corev1.PodReady: "False/ContainersNotReady"},
			wantMessageOf: corev1.PodReady, wantMessage: "containers with unready status: [a]",
		},
		{
			name: "initializing", spec: specOf(corev1.RestartPolicyAlways, []string{"i1", "i2"}, nil, "a"), sandboxPresent: true,
			statuses: []corev1.ContainerStatus{{Name: "i1", Started: ptr.To(true), State: running("i1").State}, waiting("i2", reasonPodInitializing), waiting("a", reasonPodInitializing)},
			phase:    corev1.PodPending,
			want:     map[corev1.PodConditionType]string{corev1.PodInitialized: "False/ContainersNotInitialized"},
			// A running regular init container is not ready: it is incomplete.
			wantMessageOf: corev1.PodInitialized, wantMessage: "containers with incomplete status: [i1 i2]",
		},
		{
			name: "succeeded", spec: specOf(corev1.RestartPolicyNever, []string{"i"}, nil, "a"),
			statuses: []corev1.ContainerStatus{{Name: "i", Ready: true, State: exited("i", 0).State}, exited("a", 0)},
			phase:    corev1.PodSucceeded,
			want: map[corev1.PodConditionType]string{corev1.PodInitialized: "True/PodCompleted",
				corev1.ContainersReady: "False/PodCompleted", corev1.PodReady: "False/PodCompleted"},
		},
		{
			name: "failed", spec: specOf(corev1.RestartPolicyNever, nil, nil, "a"),
			statuses: []corev1.ContainerStatus{exited("a", 1)}, phase: corev1.PodFailed,
			want: map[corev1.PodConditionType]string{corev1.ContainersReady: "False/PodFailed", corev1.PodReady: "False/PodFailed"},
		},
		{
			name: "readiness gate missing", spec: func() *corev1.PodSpec {
				s := specOf(corev1.RestartPolicyAlways, nil, nil, "a")
				s.ReadinessGates = []corev1.PodReadinessGate{gate}
				return s
			}(),
			statuses: []corev1.ContainerStatus{running("a")}, phase: corev1.PodRunning,
			want:          map[corev1.PodConditionType]string{corev1.ContainersReady: "True/", corev1.PodReady: "False/ReadinessGatesNotReady"},
			wantMessageOf: corev1.PodReady, wantMessage: `corresponding condition of pod readiness gate "example.com/gate" does not exist.`,
		},
		{
			name: "readiness gate False", spec: func() *corev1.PodSpec {
				s := specOf(corev1.RestartPolicyAlways, nil, nil, "a")
				s.ReadinessGates = []corev1.PodReadinessGate{gate}
				return s
			}(),
			others:   []corev1.PodCondition{{Type: gate.ConditionType, Status: corev1.ConditionFalse}},
			statuses: []corev1.ContainerStatus{running("a")}, phase: corev1.PodRunning,
			want:          map[corev1.PodConditionType]string{corev1.PodReady: "False/ReadinessGatesNotReady", gate.ConditionType: "False/"},
			wantMessageOf: corev1.PodReady, wantMessage: `the status of pod readiness gate "example.com/gate" is not "True", but False`,
		},
		{
			name: "readiness gate True, others kept", spec: func() *corev1.PodSpec {
				s := specOf(corev1.RestartPolicyAlways, nil, nil, "a")
				s.ReadinessGates = []corev1.PodReadinessGate{gate}
				return s
			}(),
			others: []corev1.PodCondition{{Type: gate.ConditionType, Status: corev1.ConditionTrue},
				{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI"},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, Reason: "ByScheduler"}},
			statuses: []corev1.ContainerStatus{running("a")}, phase: corev1.PodRunning,
			want: map[corev1.PodConditionType]string{corev1.PodReady: "True/", corev1.DisruptionTarget: "True/EvictionByEvictionAPI",
				corev1.PodScheduled: "True/ByScheduler"},
		},
		{
			name: "sidecar not started holds initialization", spec: specOf(corev1.RestartPolicyAlways, nil, []string{"s"}, "a"),
			statuses: []corev1.ContainerStatus{{Name: "s", Started: ptr.To(false), State: running("s").State}, waiting("a", reasonPodInitializing)},
			phase:    corev1.PodPending,
			want: map[corev1.PodConditionType]string{corev1.PodInitialized: "False/ContainersNotInitialized",
				corev1.ContainersReady: "False/ContainersNotReady"},
			wantMessageOf: corev1.ContainersReady, wantMessage: "containers with unready status: [s a]",
		},
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: *tc.spec, Status: corev1.PodStatus{Conditions: tc.others}}
			s := &corev1.PodStatus{Phase: tc.phase, ContainerStatuses: tc.statuses}
			got := podConditions(pod, s, tc.sandboxPresent, now)
			byType := map[corev1.PodConditionType]corev1.PodCondition{}
			for _, c := range got {
				if _, dup := byType[c.Type]; dup {
					t.Errorf("condition %s twice", c.Type)
				}
				byType[c.Type] = c
			}
			for typ, want := range tc.want {
				c, ok := byType[typ]
				if !ok {
					t.Errorf("no %s condition", typ)
					continue
				}
				if got := string(c.Status) + "/" + c.Reason; got != want {
					t.Errorf("%s = %s, want %s", typ, got, want)
				}
			}
			if tc.wantMessageOf != "" && byType[tc.wantMessageOf].Message != tc.wantMessage {
				t.Errorf("%s message = %q, want %q", tc.wantMessageOf, byType[tc.wantMessageOf].Message, tc.wantMessage)
			}
		})
	}
}

func TestConditionsKeepTheirTransitionTimeWhileUnchanged(t *testing.T) {
	then := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := then.Add(time.Hour)
	pod := &corev1.Pod{Spec: *specOf(corev1.RestartPolicyAlways, nil, nil, "a"), Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: then},
		{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, LastTransitionTime: then},
	}}}
	s := &corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("a")}}
	for _, c := range podConditions(pod, s, true, now) {
		switch c.Type {
		case corev1.PodReady:
			if !c.LastTransitionTime.Equal(&then) {
				t.Errorf("Ready stayed True but its transition time moved to %v", c.LastTransitionTime)
			}
		case corev1.ContainersReady:
			if !c.LastTransitionTime.Time.Equal(now) {
				t.Errorf("ContainersReady turned True but its transition time is %v, want %v", c.LastTransitionTime, now)
			}
		}
	}
}

func TestGeneratePodStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	started := now.Add(-time.Minute)
	pod := func(policy corev1.RestartPolicy) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Generation: 3},
			Spec: corev1.PodSpec{RestartPolicy: policy, Containers: []corev1.Container{
				{Name: "b", Image: "img-b"},
				{Name: "a", Image: "img-a", ReadinessProbe: &corev1.Probe{InitialDelaySeconds: 120}},
			}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort},
		}
	}
	instance := func(name string, attempt int32, state runtime.ContainerState, code int32, age time.Duration) runtime.ContainerStatus {
		c := runtime.ContainerStatus{ID: name + "-" + string(rune('0'+attempt)), Name: name, Attempt: attempt, ImageRef: "sha256:x",
			State: state, StartedAt: started.Add(-age), ExitCode: code}
		if state == runtime.ContainerExited {
			c.FinishedAt = c.StartedAt.Add(time.Second)
		}
		return c
	}

	t.Run("running containers, one held by its readiness delay", func(t *testing.T) {
		s := generatePodStatus(podView{Pod: pod(corev1.RestartPolicyAlways), Now: now, RuntimeType: "sim", NodeIP: "192.0.2.1",
			PodIP: "10.42.0.5", SandboxReady: true, StartTime: started,
			Containers: []runtime.ContainerStatus{instance("a", 0, runtime.ContainerRunning, 0, 0), instance("b", 0, runtime.ContainerRunning, 0, 0)}})
		if s.Phase != corev1.PodRunning || s.PodIP != "10.42.0.5" || s.HostIP != "192.0.2.1" || s.QOSClass != corev1.PodQOSBestEffort ||
			s.StartTime == nil || s.ObservedGeneration != 3 {
			t.Fatalf("status = %+v", s)
		}
		if s.ContainerStatuses[0].Name != "a" || s.ContainerStatuses[1].Name != "b" {
			t.Errorf("container statuses not sorted by name: %s, %s", s.ContainerStatuses[0].Name, s.ContainerStatuses[1].Name)
		}
		a, b := s.ContainerStatuses[0], s.ContainerStatuses[1]
		if a.Ready || !*a.Started || !b.Ready || a.ContainerID != "sim://a-0" || a.Image != "img-a" || a.ImageID != "sha256:x" {
			t.Errorf("a = %+v, b = %+v", a, b)
		}
		for _, c := range s.Conditions {
			if c.Type == corev1.PodReady && (c.Status != corev1.ConditionFalse || c.Message != "containers with unready status: [a]") {
				t.Errorf("Ready = %+v", c)
			}
			if c.ObservedGeneration != 3 {
				t.Errorf("condition %s observedGeneration %d", c.Type, c.ObservedGeneration)
			}
		}
	})

	t.Run("back-off shows the last exit and the waiting reason", func(t *testing.T) {
		s := generatePodStatus(podView{Pod: pod(corev1.RestartPolicyAlways), Now: now, RuntimeType: "sim", SandboxReady: true,
			Containers: []runtime.ContainerStatus{
				instance("a", 0, runtime.ContainerExited, 1, time.Minute),
				instance("a", 1, runtime.ContainerExited, 2, 0),
				instance("b", 0, runtime.ContainerRunning, 0, 0),
			},
			Waiting: map[string]corev1.ContainerStateWaiting{"a": {Reason: reasonCrashLoopBackOff, Message: "back-off 10s"}}})
		a := s.ContainerStatuses[0]
		if a.State.Waiting == nil || a.State.Waiting.Reason != reasonCrashLoopBackOff || a.RestartCount != 1 ||
			a.LastTerminationState.Terminated == nil || a.LastTerminationState.Terminated.ExitCode != 2 || a.Ready || *a.Started {
			t.Errorf("a = %+v", a)
		}
		if s.Phase != corev1.PodRunning {
			t.Errorf("phase = %s", s.Phase)
		}
	})

	t.Run("running container keeps the previous exit as last state", func(t *testing.T) {
		s := generatePodStatus(podView{Pod: pod(corev1.RestartPolicyAlways), Now: now, RuntimeType: "sim", SandboxReady: true,
			Containers: []runtime.ContainerStatus{
				instance("b", 2, runtime.ContainerRunning, 0, 0),
				instance("b", 1, runtime.ContainerExited, 3, time.Minute),
				instance("b", 0, runtime.ContainerExited, 4, 2*time.Minute),
			}})
		b := s.ContainerStatuses[1]
		if b.RestartCount != 2 || b.State.Running == nil || b.LastTerminationState.Terminated.ExitCode != 3 {
			t.Errorf("b = %+v", b)
		}
	})

	t.Run("a terminal phase sticks", func(t *testing.T) {
		p := pod(corev1.RestartPolicyAlways)
		p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted"
		s := generatePodStatus(podView{Pod: p, Now: now, RuntimeType: "sim",
			Containers: []runtime.ContainerStatus{instance("a", 0, runtime.ContainerRunning, 0, 0), instance("b", 0, runtime.ContainerRunning, 0, 0)}})
		if s.Phase != corev1.PodFailed || s.Reason != "Evicted" {
			t.Errorf("phase %s reason %s", s.Phase, s.Reason)
		}
	})

	t.Run("a terminated pod with containers never seen marks them failed", func(t *testing.T) {
		s := generatePodStatus(podView{Pod: pod(corev1.RestartPolicyAlways), Now: now, RuntimeType: "sim", Terminal: true,
			Containers: []runtime.ContainerStatus{instance("b", 0, runtime.ContainerExited, 0, 0)}})
		a := s.ContainerStatuses[0]
		if s.Phase != corev1.PodFailed || a.State.Terminated == nil || a.State.Terminated.Reason != reasonContainerStatusUnknown ||
			a.State.Terminated.ExitCode != 137 {
			t.Errorf("phase %s, a = %+v", s.Phase, a.State)
		}
	})

	t.Run("the deadline fails the pod with its reason", func(t *testing.T) {
		s := generatePodStatus(podView{Pod: pod(corev1.RestartPolicyAlways), Now: now, RuntimeType: "sim", Terminal: true,
			Eviction:   &podEviction{Reason: reasonDeadlineExceeded, Message: messageDeadlineExceeded},
			Containers: []runtime.ContainerStatus{instance("a", 0, runtime.ContainerExited, 137, 0), instance("b", 0, runtime.ContainerExited, 137, 0)}})
		if s.Phase != corev1.PodFailed || s.Reason != reasonDeadlineExceeded || s.Message != messageDeadlineExceeded {
			t.Errorf("phase %s reason %q message %q", s.Phase, s.Reason, s.Message)
		}
	})

	t.Run("a container the runtime lost keeps its terminated status", func(t *testing.T) {
		p := pod(corev1.RestartPolicyNever)
		p.Status.ContainerStatuses = []corev1.ContainerStatus{exited("a", 0), exited("b", 0)}
		s := generatePodStatus(podView{Pod: p, Now: now, RuntimeType: "sim"})
		if s.Phase != corev1.PodSucceeded {
			t.Errorf("phase = %s, want Succeeded from the kept statuses", s.Phase)
		}
	})

	t.Run("a container the runtime lost while running counts as ended", func(t *testing.T) {
		p := pod(corev1.RestartPolicyAlways)
		p.Status.ContainerStatuses = []corev1.ContainerStatus{running("a"), running("b")}
		p.Status.ContainerStatuses[0].RestartCount = 4
		s := generatePodStatus(podView{Pod: p, Now: now, RuntimeType: "sim",
			Containers: []runtime.ContainerStatus{instance("b", 0, runtime.ContainerRunning, 0, 0)}})
		a := s.ContainerStatuses[0]
		if a.RestartCount != 5 || a.LastTerminationState.Terminated == nil || a.LastTerminationState.Terminated.Reason != reasonContainerStatusUnknown {
			t.Errorf("a = %+v", a)
		}
	})
}

func TestStatusTimesAreWholeSecondsSoAStatusMadeAgainIsEqual(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 987654321, time.UTC)
	p := &corev1.Pod{Spec: *specOf(corev1.RestartPolicyAlways, nil, nil, "a")}
	v := podView{Pod: p, Now: now, RuntimeType: "sim", PodIP: "10.0.0.2", SandboxReady: true, StartTime: now,
		Containers: []runtime.ContainerStatus{{ID: "x", Name: "a", State: runtime.ContainerRunning, StartedAt: now}}}
	first := generatePodStatus(v)
	if first.StartTime.Nanosecond() != 0 || first.ContainerStatuses[0].State.Running.StartedAt.Nanosecond() != 0 {
		t.Fatalf("times not truncated: %v %v", first.StartTime, first.ContainerStatuses[0].State.Running.StartedAt)
	}
	p.Status = first
	v.Now = now.Add(3 * time.Second)
	again := generatePodStatus(v)
	if !podStatusEqual(&first, &again) {
		t.Errorf("status made again differs:\n%+v\n%+v", first, again)
	}
}
