package policy

import (
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var matcher = field.ErrorMatcher{}.ByType().ByField().ByDetailSubstring()

func path(p string, more ...string) *field.Path { return field.NewPath(p, more...) }

func validPDB() *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromString("50%")),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
}

func TestValidatePodDisruptionBudget(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*policyv1.PodDisruptionBudget)
		want   field.ErrorList
	}{
		{"valid budget passes", func(*policyv1.PodDisruptionBudget) {}, nil},
		{"maxUnavailable alone passes", func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MinAvailable, p.Spec.MaxUnavailable = nil, ptr.To(intstr.FromInt32(1))
			p.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.AlwaysAllow)
		}, nil},
		{"an empty selector passes", func(p *policyv1.PodDisruptionBudget) { p.Spec.Selector = &metav1.LabelSelector{} }, nil},
		{"names are checked as path segments", func(p *policyv1.PodDisruptionBudget) { p.Name = "web%2Fapi" }, field.ErrorList{
			field.Invalid(path("metadata", "name"), nil, "may not contain '%'"),
		}},
		{"namespace is required", func(p *policyv1.PodDisruptionBudget) { p.Namespace = "" }, field.ErrorList{
			field.Required(path("metadata", "namespace"), ""),
		}},
		{"minAvailable and maxUnavailable are exclusive", func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1))
		}, field.ErrorList{
			field.Invalid(path("spec"), nil, "minAvailable and maxUnavailable cannot be both set"),
		}},
		{"minAvailable may not exceed 100%", func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr.To(intstr.FromString("101%")) }, field.ErrorList{
			field.Invalid(path("spec", "minAvailable"), nil, "must not be greater than 100%"),
		}},
		{"negative maxUnavailable is invalid", func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MinAvailable, p.Spec.MaxUnavailable = nil, ptr.To(intstr.FromInt32(-1))
		}, field.ErrorList{
			field.Invalid(path("spec", "maxUnavailable"), nil, "must be greater than or equal to 0"),
		}},
		{"malformed percentage is invalid", func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr.To(intstr.FromString("half")) }, field.ErrorList{
			field.Invalid(path("spec", "minAvailable"), nil, "a valid percent string"),
		}},
		{"selector is validated", func(p *policyv1.PodDisruptionBudget) {
			p.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn}}
		}, field.ErrorList{
			field.Required(path("spec", "selector", "matchExpressions").Index(0).Child("values"), ""),
		}},
		{"unknown unhealthyPodEvictionPolicy is not supported", func(p *policyv1.PodDisruptionBudget) {
			p.Spec.UnhealthyPodEvictionPolicy = ptr.To[policyv1.UnhealthyPodEvictionPolicyType]("Never")
		}, field.ErrorList{
			field.NotSupported(path("spec", "unhealthyPodEvictionPolicy"), "Never", []string{"AlwaysAllow", "IfHealthyBudget"}),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := validPDB()
			tc.mutate(p)
			matcher.Test(t, tc.want, ValidatePodDisruptionBudget(p))
		})
	}
}

func TestValidatePodDisruptionBudgetUpdate(t *testing.T) {
	old := validPDB()
	p := old.DeepCopy()
	p.Spec.MinAvailable = ptr.To(intstr.FromInt32(2))
	matcher.Test(t, nil, ValidatePodDisruptionBudgetUpdate(p, old))

	p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1))
	matcher.Test(t, field.ErrorList{field.Invalid(path("spec"), nil, "cannot be both set")}, ValidatePodDisruptionBudgetUpdate(p, old))
}

func TestValidatePodDisruptionBudgetStatusUpdate(t *testing.T) {
	cases := []struct {
		name   string
		status policyv1.PodDisruptionBudgetStatus
		want   field.ErrorList
	}{
		{"consistent status passes", policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1, CurrentHealthy: 3, DesiredHealthy: 2, ExpectedPods: 3,
			Conditions: []metav1.Condition{{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionTrue, Reason: policyv1.SufficientPodsReason, LastTransitionTime: metav1.Now()}}}, nil},
		{"negative counters are invalid", policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: -1, ExpectedPods: -1}, field.ErrorList{
			field.Invalid(path("status", "disruptionsAllowed"), nil, ""),
			field.Invalid(path("status", "expectedPods"), nil, ""),
		}},
		{"conditions are validated", policyv1.PodDisruptionBudgetStatus{Conditions: []metav1.Condition{{Type: "DisruptionAllowed", Status: "Maybe", Reason: "x", LastTransitionTime: metav1.Now()}}}, field.ErrorList{
			field.NotSupported(path("status", "conditions").Index(0).Child("status"), "Maybe", []string{"False", "True", "Unknown"}),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validPDB()
			p := old.DeepCopy()
			p.Status = tc.status
			matcher.Test(t, tc.want, ValidatePodDisruptionBudgetStatusUpdate(p, old))
		})
	}
}
