package printers

import (
	"reflect"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func running(name string, ready bool, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: ready, RestartCount: restarts, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func waiting(name, reason string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, RestartCount: restarts, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func terminated(name, reason string, exitCode, signal int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exitCode, Signal: signal}}}
}

// restartedAgo says the container last terminated d ago.
func restartedAgo(s corev1.ContainerStatus, d time.Duration) corev1.ContainerStatus {
	s.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{FinishedAt: ago(d)}
	return s
}

func containers(names ...string) []corev1.Container {
	var out []corev1.Container
	for _, n := range names {
		out = append(out, corev1.Container{Name: n, Image: "busybox"})
	}
	return out
}

func sidecar(name string) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways)}
}

func condition(t corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
	return corev1.PodCondition{Type: t, Status: s}
}

func TestPodReadyStatusAndRestartsAreThoseKubectlPrints(t *testing.T) {
	tests := []struct {
		name                    string
		pod                     corev1.Pod
		ready, status, restarts string
	}{
		{
			name: "running",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("a", true, 0)}}},
			ready: "1/1", status: "Running", restarts: "0",
		},
		{
			name: "crash loop, with when it last restarted",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					restartedAgo(waiting("a", "CrashLoopBackOff", 3), 5*time.Minute), running("b", true, 0)}}},
			ready: "1/2", status: "CrashLoopBackOff", restarts: "3 (5m ago)",
		},
		{
			name: "restarts without a termination time",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("a", true, 2)}}},
			ready: "1/1", status: "Running", restarts: "2",
		},
		{
			name: "the first container in spec order gives the reason",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					waiting("a", "ImagePullBackOff", 0), waiting("b", "ErrImagePull", 0)}}},
			ready: "0/2", status: "ImagePullBackOff", restarts: "0",
		},
		{
			name: "completed",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Completed", 0, 0)}}},
			ready: "0/1", status: "Completed", restarts: "0",
		},
		{
			name: "error",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Error", 1, 0)}}},
			ready: "0/1", status: "Error", restarts: "0",
		},
		{
			name: "killed by a signal without a reason",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "", 137, 9)}}},
			ready: "0/1", status: "Signal:9", restarts: "0",
		},
		{
			name: "exit code without a reason",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "", 2, 0)}}},
			ready: "0/1", status: "ExitCode:2", restarts: "0",
		},
		{
			name: "one container completed beside another running, ready",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{condition(corev1.PodReady, corev1.ConditionTrue)},
					ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Completed", 0, 0), running("b", true, 0)}}},
			ready: "1/2", status: "Running", restarts: "0",
		},
		{
			name: "one container completed beside another running, not ready",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{condition(corev1.PodReady, corev1.ConditionFalse)},
					ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Completed", 0, 0), running("b", true, 0)}}},
			ready: "1/2", status: "NotReady", restarts: "0",
		},
		{
			name: "first init container running",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{running("init", false, 0)},
					ContainerStatuses:     []corev1.ContainerStatus{waiting("a", "PodInitializing", 0)}}},
			ready: "0/1", status: "Init:0/1", restarts: "0",
		},
		{
			name: "second init container waiting to start",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1", "i2"), Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					terminated("i1", "Completed", 0, 0), waiting("i2", "PodInitializing", 0)}}},
			ready: "0/1", status: "Init:1/2", restarts: "0",
		},
		{
			name: "init container crash loop counts its restarts",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{restartedAgo(waiting("init", "CrashLoopBackOff", 4), 90*time.Second)},
					ContainerStatuses:     []corev1.ContainerStatus{waiting("a", "PodInitializing", 0)}}},
			ready: "0/1", status: "Init:CrashLoopBackOff", restarts: "4 (90s ago)",
		},
		{
			name: "init container failed",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{terminated("init", "Error", 1, 0)}}},
			ready: "0/1", status: "Init:Error", restarts: "0",
		},
		{
			name: "init container killed without a reason",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{terminated("init", "", 137, 9)}}},
			ready: "0/1", status: "Init:Signal:9", restarts: "0",
		},
		{
			name: "init container exited without a reason",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{terminated("init", "", 3, 0)}}},
			ready: "0/1", status: "Init:ExitCode:3", restarts: "0",
		},
		{
			name: "initialized, containers starting",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{condition(corev1.PodInitialized, corev1.ConditionTrue)},
					InitContainerStatuses: []corev1.ContainerStatus{restartedAgo(terminated("init", "Completed", 0, 0), time.Hour)},
					ContainerStatuses:     []corev1.ContainerStatus{waiting("a", "PodInitializing", 0)}}},
			ready: "0/1", status: "PodInitializing", restarts: "0",
		},
		{
			name: "container creating",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting("a", "ContainerCreating", 0)}}},
			ready: "0/1", status: "ContainerCreating", restarts: "0",
		},
		{
			name: "sidecar counts as a container, with its restarts",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{sidecar("proxy")}, Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{condition(corev1.PodInitialized, corev1.ConditionTrue)},
					InitContainerStatuses: []corev1.ContainerStatus{func() corev1.ContainerStatus {
						s := restartedAgo(running("proxy", true, 2), 10*time.Minute)
						s.Started = ptr(true)
						return s
					}()},
					ContainerStatuses: []corev1.ContainerStatus{restartedAgo(running("a", true, 1), 20*time.Minute)}}},
			ready: "2/2", status: "Running", restarts: "3 (10m ago)",
		},
		{
			name: "scheduling gated",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a"), SchedulingGates: []corev1.PodSchedulingGate{{Name: "wait"}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}}}},
			ready: "0/1", status: "SchedulingGated", restarts: "0",
		},
		{
			name: "status reason replaces the phase",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}},
			ready: "0/1", status: "Evicted", restarts: "0",
		},
		{
			name: "terminating",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: ptr(ago(time.Second))}, Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("a", true, 0)}}},
			ready: "1/1", status: "Terminating", restarts: "0",
		},
		{
			name: "a finished pod being deleted keeps its status",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: ptr(ago(time.Second))}, Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Completed", 0, 0)}}},
			ready: "0/1", status: "Completed", restarts: "0",
		},
		{
			name: "deleted on a lost node",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: ptr(ago(time.Second))}, Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost"}},
			ready: "0/1", status: "Unknown", restarts: "0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.pod.Name = "p"
			tt.pod.CreationTimestamp = ago(time.Hour)
			cells := convert(t, gr("", "pods"), &tt.pod, nil).Rows[0].Cells
			if got, want := cells[1:4], []any{tt.ready, tt.status, tt.restarts}; !reflect.DeepEqual(got, want) {
				t.Errorf("READY, STATUS, RESTARTS = %q, want %q", got, want)
			}
		})
	}
}

func TestFinishedPodRowsAreMarkedCompleted(t *testing.T) {
	tests := []struct {
		phase corev1.PodPhase
		want  []metav1.TableRowCondition
	}{
		{corev1.PodRunning, nil},
		{corev1.PodSucceeded, []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: "Succeeded", Message: "The pod has completed successfully."}}},
		{corev1.PodFailed, []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: "Failed", Message: "The pod failed."}}},
	}
	for _, tt := range tests {
		t.Run(string(tt.phase), func(t *testing.T) {
			pod := &corev1.Pod{Status: corev1.PodStatus{Phase: tt.phase}}
			if got := convert(t, gr("", "pods"), pod, nil).Rows[0].Conditions; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("conditions %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHPATargetsShowEachMetricAgainstItsTarget(t *testing.T) {
	resourceMetric := func(name corev1.ResourceName, target autoscalingv2.MetricTarget) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: name, Target: target}}
	}
	tests := []struct {
		name     string
		specs    []autoscalingv2.MetricSpec
		statuses []autoscalingv2.MetricStatus
		want     string
	}{
		{"no metrics", nil, nil, "<none>"},
		{"utilization not measured yet", []autoscalingv2.MetricSpec{resourceMetric(corev1.ResourceCPU, autoscalingv2.MetricTarget{AverageUtilization: ptr[int32](50)})}, nil, "cpu: <unknown>/50%"},
		{"average value", []autoscalingv2.MetricSpec{resourceMetric(corev1.ResourceMemory, autoscalingv2.MetricTarget{AverageValue: qty("512Mi")})},
			[]autoscalingv2.MetricStatus{{Resource: &autoscalingv2.ResourceMetricStatus{Current: autoscalingv2.MetricValueStatus{AverageValue: qty("300Mi")}}}},
			"memory: 300Mi/512Mi"},
		{"pods metric", []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{Target: autoscalingv2.MetricTarget{AverageValue: qty("1k")}}}},
			[]autoscalingv2.MetricStatus{{Pods: &autoscalingv2.PodsMetricStatus{Current: autoscalingv2.MetricValueStatus{AverageValue: qty("250")}}}},
			"250/1k"},
		{"object metric by value", []autoscalingv2.MetricSpec{{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{Target: autoscalingv2.MetricTarget{Value: qty("10")}}}},
			nil, "<unknown>/10"},
		{"external metric averaged", []autoscalingv2.MetricSpec{{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{Target: autoscalingv2.MetricTarget{AverageValue: qty("30")}}}},
			[]autoscalingv2.MetricStatus{{External: &autoscalingv2.ExternalMetricStatus{Current: autoscalingv2.MetricValueStatus{AverageValue: qty("20")}}}},
			"20/30 (avg)"},
		{"container resource", []autoscalingv2.MetricSpec{{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
			Name: corev1.ResourceCPU, Container: "app", Target: autoscalingv2.MetricTarget{}}}}, nil, "cpu: <unknown>/<auto>"},
		{"more than two", []autoscalingv2.MetricSpec{
			resourceMetric(corev1.ResourceCPU, autoscalingv2.MetricTarget{AverageUtilization: ptr[int32](50)}),
			resourceMetric(corev1.ResourceMemory, autoscalingv2.MetricTarget{AverageUtilization: ptr[int32](60)}),
			resourceMetric("ephemeral-storage", autoscalingv2.MetricTarget{AverageUtilization: ptr[int32](70)}),
			{Type: "Unknown"},
		}, nil, "cpu: <unknown>/50%, memory: <unknown>/60% + 2 more..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hpaTargets(tt.specs, tt.statuses); got != tt.want {
				t.Errorf("targets %q, want %q", got, tt.want)
			}
		})
	}
}
