package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// policyMatch is what a pod failure policy says about one failed pod.
type policyMatch struct {
	// failJobMessage is set when a FailJob rule matched: the message of the Job's failure.
	failJobMessage *string
	// countFailed is false when an Ignore rule matched: the failure does not count towards
	// backoffLimit (or backoffLimitPerIndex).
	countFailed bool
	// action is the action of the matching rule, nil when none matched.
	action *batchv1.PodFailurePolicyAction
}

// matchPodFailurePolicy checks a failed pod against the rules of a pod failure policy in order; the
// first rule that matches decides. A pod no rule matches counts as a failure.
func matchPodFailurePolicy(policy *batchv1.PodFailurePolicy, pod *corev1.Pod) policyMatch {
	if policy == nil {
		return policyMatch{countFailed: true}
	}
	for i, rule := range policy.Rules {
		var failJobMessage string
		switch {
		case rule.OnExitCodes != nil:
			status := matchOnExitCodes(&pod.Status, rule.OnExitCodes)
			if status == nil {
				continue
			}
			failJobMessage = fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
				status.Name, pod.Namespace, pod.Name, status.State.Terminated.ExitCode, rule.Action, i)
		case rule.OnPodConditions != nil:
			cond := matchOnPodConditions(&pod.Status, rule.OnPodConditions)
			if cond == nil {
				continue
			}
			failJobMessage = fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d",
				pod.Namespace, pod.Name, cond.Type, rule.Action, i)
		default:
			continue
		}
		action := rule.Action
		switch action {
		case batchv1.PodFailurePolicyActionIgnore:
			return policyMatch{countFailed: false, action: &action}
		case batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyActionCount:
			return policyMatch{countFailed: true, action: &action}
		case batchv1.PodFailurePolicyActionFailJob:
			return policyMatch{failJobMessage: &failJobMessage, countFailed: true, action: &action}
		}
		// An action this controller does not know matches nothing, so that later rules still apply.
	}
	return policyMatch{countFailed: true}
}

// matchOnExitCodes returns the first terminated container (regular, then init) with a non-zero exit
// code that the requirement matches.
func matchOnExitCodes(status *corev1.PodStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{status.ContainerStatuses, status.InitContainerStatuses} {
		for i := range list {
			cs := &list[i]
			terminated := cs.State.Terminated
			if terminated == nil || terminated.ExitCode == 0 {
				continue
			}
			if req.ContainerName != nil && *req.ContainerName != cs.Name {
				continue
			}
			if exitCodeMatches(terminated.ExitCode, req) {
				return cs
			}
		}
	}
	return nil
}

func exitCodeMatches(code int32, req *batchv1.PodFailurePolicyOnExitCodesRequirement) bool {
	switch req.Operator {
	case batchv1.PodFailurePolicyOnExitCodesOpIn:
		return slices.Contains(req.Values, code)
	case batchv1.PodFailurePolicyOnExitCodesOpNotIn:
		return !slices.Contains(req.Values, code)
	}
	return false
}

// matchOnPodConditions returns the first pod condition that one of the patterns matches.
func matchOnPodConditions(status *corev1.PodStatus, patterns []batchv1.PodFailurePolicyOnPodConditionsPattern) *corev1.PodCondition {
	for i := range status.Conditions {
		c := &status.Conditions[i]
		for _, p := range patterns {
			want := p.Status
			if want == "" {
				want = corev1.ConditionTrue
			}
			if c.Type == p.Type && c.Status == want {
				return c
			}
		}
	}
	return nil
}

// failJobMessage returns the message of the first FailJob rule that a failed pod of the Job matches.
func failJobMessage(job *batchv1.Job, pods []*corev1.Pod) *string {
	if job.Spec.PodFailurePolicy == nil {
		return nil
	}
	for _, p := range pods {
		if !isPodFailed(p, job) {
			continue
		}
		if m := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); m.failJobMessage != nil {
			return m.failJobMessage
		}
	}
	return nil
}

// countedFailures is how many of the failed pods count towards the backoff limit.
func countedFailures(job *batchv1.Job, failed []*corev1.Pod) int {
	n := 0
	for _, p := range failed {
		if matchPodFailurePolicy(job.Spec.PodFailurePolicy, p).countFailed {
			n++
		}
	}
	return n
}

// matchSuccessPolicy checks the succeeded indexes of an Indexed Job against its success policy and
// returns the message of the SuccessCriteriaMet condition when a rule is met.
func matchSuccessPolicy(policy *batchv1.SuccessPolicy, completions int, succeeded intervals) (string, bool) {
	if policy == nil || len(succeeded) == 0 {
		return "", false
	}
	for i, rule := range policy.Rules {
		met := false
		switch {
		case rule.SucceededIndexes != nil:
			required := parseIntervals(*rule.SucceededIndexes, completions)
			if len(required) == 0 {
				continue
			}
			have := overlap(required, succeeded)
			met = have == required.total() || (rule.SucceededCount != nil && have >= int(*rule.SucceededCount))
		case rule.SucceededCount != nil:
			met = succeeded.total() >= int(*rule.SucceededCount)
		}
		if met {
			return fmt.Sprintf("Matched rules at index %d", i), true
		}
	}
	return "", false
}

// overlap counts the indexes both interval lists hold.
func overlap(a, b intervals) int {
	n := 0
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if common := min(a[i].last, b[j].last) - max(a[i].first, b[j].first) + 1; common > 0 {
			n += common
		}
		if a[i].last < b[j].last {
			i++
		} else {
			j++
		}
	}
	return n
}
