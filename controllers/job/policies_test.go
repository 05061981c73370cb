package job

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// withExitCode makes a pod's only container "main" terminated with the code.
func withExitCode(code int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name:  "main",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}},
		})
	}
}

func failedPod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Status:     corev1.PodStatus{Phase: corev1.PodFailed},
	}
	for _, m := range mutate {
		m(pod)
	}
	return pod
}

func TestMatchPodFailurePolicy(t *testing.T) {
	onExit := func(action batchv1.PodFailurePolicyAction, op batchv1.PodFailurePolicyOnExitCodesOperator, container *string, codes ...int32) batchv1.PodFailurePolicyRule {
		return batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			ContainerName: container, Operator: op, Values: codes}}
	}
	onCondition := func(action batchv1.PodFailurePolicyAction, t corev1.PodConditionType) batchv1.PodFailurePolicyRule {
		return batchv1.PodFailurePolicyRule{Action: action, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: t, Status: corev1.ConditionTrue}}}
	}
	disrupted := func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue})
	}
	initExit := func(code int32) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{
				Name: "init", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}})
		}
	}
	cases := []struct {
		name       string
		rules      []batchv1.PodFailurePolicyRule
		pod        *corev1.Pod
		wantMsg    string
		wantCount  bool
		wantAction batchv1.PodFailurePolicyAction
	}{
		{
			name:  "FailJob on an exit code in the list",
			rules: []batchv1.PodFailurePolicyRule{onExit(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, nil, 42)},
			pod:   failedPod(withExitCode(42)), wantCount: true, wantAction: batchv1.PodFailurePolicyActionFailJob,
			wantMsg: "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 0",
		},
		{
			name:  "an exit code not in the list matches nothing",
			rules: []batchv1.PodFailurePolicyRule{onExit(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, nil, 42)},
			pod:   failedPod(withExitCode(1)), wantCount: true,
		},
		{
			name:  "NotIn matches the other codes",
			rules: []batchv1.PodFailurePolicyRule{onExit(batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyOnExitCodesOpNotIn, nil, 1, 2)},
			pod:   failedPod(withExitCode(3)), wantCount: false, wantAction: batchv1.PodFailurePolicyActionIgnore,
		},
		{
			name:  "exit code 0 never matches",
			rules: []batchv1.PodFailurePolicyRule{onExit(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpNotIn, nil, 1)},
			pod:   failedPod(withExitCode(0)), wantCount: true,
		},
		{
			name:  "a rule for another container does not match",
			rules: []batchv1.PodFailurePolicyRule{onExit(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, ptr.To("sidecar"), 42)},
			pod:   failedPod(withExitCode(42)), wantCount: true,
		},
		{
			name:  "init containers are checked too",
			rules: []batchv1.PodFailurePolicyRule{onExit(batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyOnExitCodesOpIn, nil, 5)},
			pod:   failedPod(initExit(5)), wantCount: true, wantAction: batchv1.PodFailurePolicyActionCount,
		},
		{
			name:  "Ignore on the DisruptionTarget condition",
			rules: []batchv1.PodFailurePolicyRule{onCondition(batchv1.PodFailurePolicyActionIgnore, corev1.DisruptionTarget)},
			pod:   failedPod(disrupted), wantCount: false, wantAction: batchv1.PodFailurePolicyActionIgnore,
		},
		{
			name:  "FailJob on a condition names it",
			rules: []batchv1.PodFailurePolicyRule{onCondition(batchv1.PodFailurePolicyActionFailJob, corev1.DisruptionTarget)},
			pod:   failedPod(disrupted), wantCount: true, wantAction: batchv1.PodFailurePolicyActionFailJob,
			wantMsg: "Pod ns/p has condition DisruptionTarget matching FailJob rule at index 0",
		},
		{
			name: "the first matching rule decides",
			rules: []batchv1.PodFailurePolicyRule{
				onCondition(batchv1.PodFailurePolicyActionIgnore, corev1.DisruptionTarget),
				onExit(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, nil, 42),
			},
			pod:       failedPod(withExitCode(42)),
			wantCount: true, wantAction: batchv1.PodFailurePolicyActionFailJob,
			wantMsg: "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1",
		},
		{
			name:  "FailIndex counts and names its action",
			rules: []batchv1.PodFailurePolicyRule{onExit(batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyOnExitCodesOpIn, nil, 9)},
			pod:   failedPod(withExitCode(9)), wantCount: true, wantAction: batchv1.PodFailurePolicyActionFailIndex,
		},
		{
			name:  "a still running container has no exit code to match",
			rules: []batchv1.PodFailurePolicyRule{onExit(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpNotIn, nil, 0)},
			pod: failedPod(func(p *corev1.Pod) {
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
			}),
			wantCount: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := matchPodFailurePolicy(&batchv1.PodFailurePolicy{Rules: tc.rules}, tc.pod)
			if got := ptr.Deref(m.failJobMessage, ""); got != tc.wantMsg {
				t.Errorf("message %q, want %q", got, tc.wantMsg)
			}
			if m.countFailed != tc.wantCount {
				t.Errorf("countFailed %t, want %t", m.countFailed, tc.wantCount)
			}
			if got := ptr.Deref(m.action, ""); got != tc.wantAction {
				t.Errorf("action %q, want %q", got, tc.wantAction)
			}
		})
	}
	if m := matchPodFailurePolicy(nil, failedPod(withExitCode(1))); !m.countFailed || m.action != nil || m.failJobMessage != nil {
		t.Errorf("no policy: %+v, want a counted failure", m)
	}
}

func TestMatchSuccessPolicy(t *testing.T) {
	cases := []struct {
		name      string
		rules     []batchv1.SuccessPolicyRule
		succeeded string
		want      string
	}{
		{"count reached", []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To(int32(2))}}, "3,7", "Matched rules at index 0"},
		{"count not reached", []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To(int32(3))}}, "3,7", ""},
		{"all required indexes", []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0-2")}}, "0-3", "Matched rules at index 0"},
		{"a required index missing", []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0-2")}}, "0,2,3", ""},
		{"enough of the required indexes", []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0-4"), SucceededCount: ptr.To(int32(2))}}, "1,4,8", "Matched rules at index 0"},
		{"count only within the required indexes", []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0-4"), SucceededCount: ptr.To(int32(2))}}, "1,8,9", ""},
		{"a later rule", []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("5")}, {SucceededCount: ptr.To(int32(1))}}, "0", "Matched rules at index 1"},
		{"nothing succeeded", []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To(int32(0))}}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, met := matchSuccessPolicy(&batchv1.SuccessPolicy{Rules: tc.rules}, 10, parseIntervals(tc.succeeded, 10))
			if msg != tc.want || met != (tc.want != "") {
				t.Errorf("got %q, %t; want %q", msg, met, tc.want)
			}
		})
	}
	if _, met := matchSuccessPolicy(nil, 10, parseIntervals("0-9", 10)); met {
		t.Errorf("a job without success policy met one")
	}
}
