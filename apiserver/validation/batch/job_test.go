package batch

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func manualSelectorJob() *batchv1.Job {
	j := validJob()
	j.Spec.ManualSelector = ptr.To(true)
	j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "batch"}}
	j.Spec.Template.Labels = map[string]string{"app": "batch"}
	return j
}

func exitCodeRule(action batchv1.PodFailurePolicyAction, op batchv1.PodFailurePolicyOnExitCodesOperator, values ...int32) batchv1.PodFailurePolicyRule {
	return batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: op, Values: values}}
}

func TestValidateJob(t *testing.T) {
	labelsPath := path("spec", "template", "metadata", "labels")
	restartPath := path("spec", "template", "spec", "restartPolicy")
	rulesPath := path("spec", "podFailurePolicy", "rules")
	cases := []struct {
		name string
		job  func() *batchv1.Job
		want field.ErrorList
	}{
		{"defaulted job passes", validJob, nil},
		{"indexed job passes", validIndexedJob, nil},
		{"manual selector job passes without generated labels", manualSelectorJob, nil},
		{"restartPolicy OnFailure passes", func() *batchv1.Job {
			j := validJob()
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			return j
		}, nil},
		{"name must be a DNS subdomain", func() *batchv1.Job { j := manualSelectorJob(); j.Name = "Pi!"; return j }, field.ErrorList{
			field.Invalid(path("metadata", "name"), nil, ""),
		}},
		{"generated selector needs a uid", func() *batchv1.Job { j := validJob(); j.UID = ""; return j }, field.ErrorList{
			field.Required(path("metadata", "uid"), ""),
			field.Invalid(labelsPath.Key(batchv1.ControllerUidLabel), nil, ""),
			field.Invalid(labelsPath.Key("controller-uid"), nil, ""),
			field.Invalid(path("spec", "selector"), nil, "`selector` not auto-generated"),
		}},
		{"generated labels must be present", func() *batchv1.Job {
			j := validJob()
			delete(j.Spec.Template.Labels, "controller-uid")
			return j
		}, field.ErrorList{
			field.Required(labelsPath.Key("controller-uid"), string(jobUID)),
		}},
		{"generated job-name label must hold the job name", func() *batchv1.Job {
			j := validJob()
			j.Spec.Template.Labels[batchv1.JobNameLabel] = "other"
			return j
		}, field.ErrorList{
			field.Invalid(labelsPath.Key(batchv1.JobNameLabel), nil, "pi"),
		}},
		{"a hand-written selector without manualSelector is rejected", func() *batchv1.Job {
			j := validJob()
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "batch"}}
			j.Spec.Template.Labels["app"] = "batch"
			return j
		}, field.ErrorList{
			field.Invalid(path("spec", "selector"), nil, "`selector` not auto-generated"),
		}},
		{"selector is required", func() *batchv1.Job { j := manualSelectorJob(); j.Spec.Selector = nil; return j }, field.ErrorList{
			field.Required(path("spec", "selector"), ""),
			field.Invalid(labelsPath, nil, "`selector` does not match template `labels`"),
		}},
		{"template labels must match a manual selector", func() *batchv1.Job {
			j := manualSelectorJob()
			j.Spec.Template.Labels = map[string]string{"app": "other"}
			return j
		}, field.ErrorList{
			field.Invalid(labelsPath, nil, "`selector` does not match template `labels`"),
		}},
		{"negative counts and deadlines are invalid", func() *batchv1.Job {
			j := validJob()
			j.Spec.Parallelism = ptr.To[int32](-1)
			j.Spec.Completions = ptr.To[int32](-1)
			j.Spec.ActiveDeadlineSeconds = ptr.To[int64](-1)
			j.Spec.BackoffLimit = ptr.To[int32](-1)
			j.Spec.TTLSecondsAfterFinished = ptr.To[int32](-1)
			return j
		}, field.ErrorList{
			field.Invalid(path("spec", "parallelism"), nil, "must be greater than or equal to 0"),
			field.Invalid(path("spec", "completions"), nil, "must be greater than or equal to 0"),
			field.Invalid(path("spec", "activeDeadlineSeconds"), nil, "must be greater than or equal to 0"),
			field.Invalid(path("spec", "backoffLimit"), nil, "must be greater than or equal to 0"),
			field.Invalid(path("spec", "ttlSecondsAfterFinished"), nil, "must be greater than or equal to 0"),
		}},
		{"restartPolicy Always is rejected", func() *batchv1.Job {
			j := validJob()
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
			return j
		}, field.ErrorList{
			field.Required(restartPath, `valid values: "OnFailure", "Never"`),
		}},
		{"unknown restartPolicy is not supported", func() *batchv1.Job {
			j := validJob()
			j.Spec.Template.Spec.RestartPolicy = "Sometimes"
			return j
		}, field.ErrorList{
			// One from core pod validation, one from the Job rule.
			{Type: field.ErrorTypeNotSupported, Field: restartPath.String(), Detail: `"Always", "OnFailure", "Never"`},
			{Type: field.ErrorTypeNotSupported, Field: restartPath.String(), Detail: `supported values: "OnFailure", "Never"`},
		}},
		{"unknown completionMode is not supported", func() *batchv1.Job {
			j := validJob()
			j.Spec.CompletionMode = ptr.To[batchv1.CompletionMode]("Sharded")
			return j
		}, field.ErrorList{
			field.NotSupported(path("spec", "completionMode"), "Sharded", []string{"NonIndexed", "Indexed"}),
		}},
		{"Indexed needs completions", func() *batchv1.Job { j := validIndexedJob(); j.Spec.Completions = nil; return j }, field.ErrorList{
			field.Required(path("spec", "completions"), "when completion mode is Indexed"),
		}},
		{"Indexed parallelism is capped", func() *batchv1.Job {
			j := validIndexedJob()
			j.Spec.Parallelism = ptr.To[int32](100_001)
			return j
		}, field.ErrorList{
			field.Invalid(path("spec", "parallelism"), nil, "must be less than or equal to 100000"),
		}},
		{"Indexed pod hostnames must be DNS labels", func() *batchv1.Job {
			j := validIndexedJob()
			j.Spec.ManualSelector = ptr.To(true)
			j.Name = strings.Repeat("a", 60)
			j.Spec.Completions = ptr.To[int32](10_000)
			j.Spec.Parallelism = ptr.To[int32](10)
			return j
		}, field.ErrorList{
			field.Invalid(path("metadata", "name"), nil, "will not able to create pod with invalid DNS label"),
		}},
		{"backoffLimitPerIndex requires Indexed", func() *batchv1.Job { j := validJob(); j.Spec.BackoffLimitPerIndex = ptr.To[int32](1); return j }, field.ErrorList{
			field.Invalid(path("spec", "backoffLimitPerIndex"), nil, "requires indexed completion mode"),
		}},
		{"maxFailedIndexes requires backoffLimitPerIndex", func() *batchv1.Job {
			j := validIndexedJob()
			j.Spec.BackoffLimitPerIndex = nil
			j.Spec.MaxFailedIndexes = ptr.To[int32](1)
			return j
		}, field.ErrorList{
			field.Required(path("spec", "backoffLimitPerIndex"), "when maxFailedIndexes is specified"),
		}},
		{"maxFailedIndexes may not exceed completions", func() *batchv1.Job {
			j := validIndexedJob()
			j.Spec.MaxFailedIndexes = ptr.To[int32](11)
			return j
		}, field.ErrorList{
			field.Invalid(path("spec", "maxFailedIndexes"), nil, "must be less than or equal to completions"),
		}},
		{"many completions with a per-index limit need maxFailedIndexes", func() *batchv1.Job {
			j := validIndexedJob()
			j.Spec.Completions = ptr.To[int32](100_001)
			j.Spec.Parallelism = ptr.To[int32](10_001)
			return j
		}, field.ErrorList{
			field.Required(path("spec", "maxFailedIndexes"), "must be specified when completions is above 100000"),
			field.Invalid(path("spec", "parallelism"), nil, "must be less than or equal to 10000"),
		}},
		{"managedBy must be a domain-prefixed path", func() *batchv1.Job {
			j := validJob()
			j.Spec.ManagedBy = ptr.To("kueue")
			return j
		}, field.ErrorList{
			field.Invalid(path("spec", "managedBy"), nil, ""),
		}},
		{"managedBy is limited to 63 characters", func() *batchv1.Job {
			j := validJob()
			j.Spec.ManagedBy = ptr.To("example.com/" + strings.Repeat("x", 60))
			return j
		}, field.ErrorList{
			field.TooLong(path("spec", "managedBy"), "", 63),
		}},
		{"podReplacementPolicy must be known", func() *batchv1.Job {
			j := validJob()
			j.Spec.PodReplacementPolicy = ptr.To[batchv1.PodReplacementPolicy]("Never")
			return j
		}, field.ErrorList{
			field.NotSupported(path("spec", "podReplacementPolicy"), "Never", []string{"Failed", "TerminatingOrFailed"}),
		}},
		{"valid pod failure policy passes", func() *batchv1.Job {
			j := validJob()
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				exitCodeRule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, 1, 42),
				{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
			}}
			return j
		}, nil},
		{"pod failure policy needs restartPolicy Never and replacement of failed pods", func() *batchv1.Job {
			j := validJob()
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				exitCodeRule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, 1),
			}}
			return j
		}, field.ErrorList{
			field.Invalid(restartPath, nil, `only "Never" is supported when podFailurePolicy is specified`),
			field.NotSupported(path("spec", "podReplacementPolicy"), "TerminatingOrFailed", []string{"Failed"}),
		}},
		{"pod failure policy rules are checked", func() *batchv1.Job {
			j := validJob()
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				exitCodeRule("", batchv1.PodFailurePolicyOnExitCodesOpIn, 1),
				exitCodeRule(batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyOnExitCodesOpIn, 1),
				exitCodeRule("Retry", batchv1.PodFailurePolicyOnExitCodesOpIn, 1),
				exitCodeRule(batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyOnExitCodesOpIn, 0, 3, 3, 2),
				exitCodeRule(batchv1.PodFailurePolicyActionCount, ""),
				{Action: batchv1.PodFailurePolicyActionIgnore},
				{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					ContainerName: ptr.To("sidecar"), Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{0},
				}, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: "Bad Type", Status: "Maybe"}, {Type: corev1.DisruptionTarget}}},
			}}
			return j
		}, field.ErrorList{
			field.Required(rulesPath.Index(0).Child("action"), `valid values: ["Count" "FailIndex" "FailJob" "Ignore"]`),
			field.Invalid(rulesPath.Index(1).Child("action"), nil, "requires the backoffLimitPerIndex to be set"),
			field.NotSupported(rulesPath.Index(2).Child("action"), "Retry", []string{"Count", "FailIndex", "FailJob", "Ignore"}),
			field.Invalid(rulesPath.Index(3).Child("onExitCodes", "values").Index(0), nil, "must not be 0 for the In operator"),
			field.Duplicate(rulesPath.Index(3).Child("onExitCodes", "values").Index(2), nil),
			field.Invalid(rulesPath.Index(3).Child("onExitCodes", "values"), nil, "must be ordered"),
			field.Required(rulesPath.Index(4).Child("onExitCodes", "operator"), ""),
			field.Invalid(rulesPath.Index(4).Child("onExitCodes", "values"), nil, "at least one value is required"),
			field.Invalid(rulesPath.Index(5), nil, "specifying one of OnExitCodes and OnPodConditions is required"),
			field.Invalid(rulesPath.Index(6).Child("onExitCodes", "containerName"), nil, "must be one of the container or initContainer names"),
			field.Invalid(rulesPath.Index(6).Child("onPodConditions").Index(0).Child("type"), nil, ""),
			field.NotSupported(rulesPath.Index(6).Child("onPodConditions").Index(0).Child("status"), "Maybe", []string{"False", "True", "Unknown"}),
			field.Required(rulesPath.Index(6).Child("onPodConditions").Index(1).Child("status"), ""),
			field.Invalid(rulesPath.Index(6), nil, "specifying both OnExitCodes and OnPodConditions is not supported"),
		}},
		{"too many pod failure policy rules", func() *batchv1.Job {
			j := validJob()
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
			rules := make([]batchv1.PodFailurePolicyRule, 21)
			for i := range rules {
				rules[i] = exitCodeRule(batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyOnExitCodesOpIn, 1)
			}
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: rules}
			return j
		}, field.ErrorList{
			field.TooMany(rulesPath, 21, 20),
		}},
		{"success policy requires Indexed", func() *batchv1.Job {
			j := validJob()
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](1)}}}
			return j
		}, field.ErrorList{
			field.Invalid(path("spec", "successPolicy"), nil, "requires indexed completion mode"),
		}},
		{"valid success policy passes", func() *batchv1.Job {
			j := validIndexedJob()
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0,2-4"), SucceededCount: ptr.To[int32](2)}}}
			return j
		}, nil},
		{"success policy rules are checked", func() *batchv1.Job {
			j := validIndexedJob()
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{
				{},
				{SucceededIndexes: ptr.To("3,1")},
				{SucceededIndexes: ptr.To("1-2"), SucceededCount: ptr.To[int32](3)},
				{SucceededCount: ptr.To[int32](11)},
			}}
			return j
		}, field.ErrorList{
			field.Required(path("spec", "successPolicy", "rules").Index(0), "at least one of succeededCount or succeededIndexes"),
			field.Invalid(path("spec", "successPolicy", "rules").Index(1).Child("succeededIndexes"), nil, "non-increasing order"),
			field.Invalid(path("spec", "successPolicy", "rules").Index(2).Child("succeededCount"), nil, "the number of indexes in the specified succeededIndexes field"),
			field.Invalid(path("spec", "successPolicy", "rules").Index(3).Child("succeededCount"), nil, "the number of specified completions"),
		}},
		{"success policy needs rules", func() *batchv1.Job {
			j := validIndexedJob()
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{}
			return j
		}, field.ErrorList{
			field.Required(path("spec", "successPolicy", "rules"), ""),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			matcher.Test(t, tc.want, ValidateJob(tc.job()))
		})
	}
}

func TestValidateJobUpdate(t *testing.T) {
	suspendedJob := func() *batchv1.Job { j := validJob(); j.Spec.Suspend = ptr.To(true); return j }
	cases := []struct {
		name   string
		old    func() *batchv1.Job
		mutate func(*batchv1.Job)
		want   field.ErrorList
	}{
		{"mutable fields may change", validJob, func(j *batchv1.Job) {
			j.Spec.Parallelism = ptr.To[int32](4)
			j.Spec.Suspend = ptr.To(true)
			j.Spec.ActiveDeadlineSeconds = ptr.To[int64](600)
			j.Spec.BackoffLimit = ptr.To[int32](2)
			j.Spec.TTLSecondsAfterFinished = ptr.To[int32](100)
		}, nil},
		{"selector is immutable", manualSelectorJob, func(j *batchv1.Job) {
			j.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpDoesNotExist}}
		}, field.ErrorList{
			field.Invalid(path("spec", "selector"), nil, "field is immutable"),
		}},
		{"pod template is immutable", validJob, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers[0].Image = "busybox:1.37"
		}, field.ErrorList{
			field.Invalid(path("spec", "template"), nil, "field is immutable"),
		}},
		{"scheduling directives may change while suspended and never started", suspendedJob, func(j *batchv1.Job) {
			j.Spec.Template.Spec.NodeSelector = map[string]string{"pool": "gpu"}
			j.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}}
			j.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}},
				}}},
			}}
			j.Spec.Template.Labels["queue"] = "research"
			j.Spec.Template.Annotations = map[string]string{"note": "placed"}
		}, nil},
		{"node affinity may be cleared while suspended", func() *batchv1.Job {
			j := suspendedJob()
			j.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: corev1.NodeSelectorTerm{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}},
				}}},
			}}
			return j
		}, func(j *batchv1.Job) { j.Spec.Template.Spec.Affinity = nil }, nil},
		{"pod affinity stays immutable while suspended", func() *batchv1.Job {
			j := suspendedJob()
			j.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{}}
			return j
		}, func(j *batchv1.Job) { j.Spec.Template.Spec.Affinity = nil }, field.ErrorList{
			field.Invalid(path("spec", "template"), nil, "field is immutable"),
		}},
		{"other template fields stay immutable while suspended", suspendedJob, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers[0].Args = []string{"--fast"}
		}, field.ErrorList{
			field.Invalid(path("spec", "template"), nil, "field is immutable"),
		}},
		{"scheduling directives are fixed once the job started", func() *batchv1.Job {
			j := suspendedJob()
			j.Status.StartTime = &metav1.Time{}
			return j
		}, func(j *batchv1.Job) {
			j.Spec.Template.Spec.NodeSelector = map[string]string{"pool": "gpu"}
		}, field.ErrorList{
			field.Invalid(path("spec", "template"), nil, "field is immutable"),
		}},
		{"completions are immutable for non-indexed jobs", validJob, func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](3) }, field.ErrorList{
			field.Invalid(path("spec", "completions"), nil, "field is immutable"),
		}},
		{"indexed jobs scale completions with parallelism", validIndexedJob, func(j *batchv1.Job) {
			j.Spec.Completions = ptr.To[int32](4)
			j.Spec.Parallelism = ptr.To[int32](4)
		}, nil},
		{"indexed jobs may not change completions alone", validIndexedJob, func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](4) }, field.ErrorList{
			field.Invalid(path("spec", "completions"), nil, "can only be modified in tandem with spec.parallelism"),
		}},
		{"completionMode, policies and managedBy are immutable", validIndexedJob, func(j *batchv1.Job) {
			j.Spec.BackoffLimitPerIndex = ptr.To[int32](3)
			j.Spec.ManagedBy = ptr.To("example.com/queue")
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](1)}}}
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				exitCodeRule(batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyOnExitCodesOpIn, 1),
			}}
		}, field.ErrorList{
			field.Invalid(path("spec", "podFailurePolicy"), nil, "field is immutable"),
			field.Invalid(path("spec", "backoffLimitPerIndex"), nil, "field is immutable"),
			field.Invalid(path("spec", "managedBy"), nil, "field is immutable"),
			field.Invalid(path("spec", "successPolicy"), nil, "field is immutable"),
		}},
		{"completionMode is immutable", validJob, func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		}, field.ErrorList{
			field.Invalid(path("spec", "completionMode"), nil, "field is immutable"),
		}},
		{"jobs created before the prefixed labels need not have them", func() *batchv1.Job {
			j := validJob()
			delete(j.Spec.Template.Labels, batchv1.JobNameLabel)
			delete(j.Spec.Template.Labels, batchv1.ControllerUidLabel)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"controller-uid": string(jobUID)}}
			return j
		}, func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](2) }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := tc.old()
			j := old.DeepCopy()
			tc.mutate(j)
			matcher.Test(t, tc.want, ValidateJobUpdate(j, old))
		})
	}
}
