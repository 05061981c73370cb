package scheduling

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var matcher = field.ErrorMatcher{}.ByType().ByField().ByDetailSubstring()

func validPriorityClass() *schedulingv1.PriorityClass {
	return &schedulingv1.PriorityClass{
		ObjectMeta:       metav1.ObjectMeta{Name: "high", ResourceVersion: "1"},
		Value:            1000,
		PreemptionPolicy: ptr.To(corev1.PreemptLowerPriority),
	}
}

func TestValidatePriorityClass(t *testing.T) {
	name := field.NewPath("metadata", "name")
	cases := []struct {
		name   string
		mutate func(*schedulingv1.PriorityClass)
		want   field.ErrorList
	}{
		{"valid class passes", func(*schedulingv1.PriorityClass) {}, nil},
		{"the highest user value passes", func(pc *schedulingv1.PriorityClass) { pc.Value = HighestUserDefinablePriority }, nil},
		{"negative values pass", func(pc *schedulingv1.PriorityClass) { pc.Value = -10 }, nil},
		{"system-node-critical with its value passes", func(pc *schedulingv1.PriorityClass) {
			pc.Name, pc.Value = SystemNodeCritical, 2000001000
		}, nil},
		{"values above the user range are forbidden", func(pc *schedulingv1.PriorityClass) { pc.Value = HighestUserDefinablePriority + 1 }, field.ErrorList{
			field.Forbidden(field.NewPath("value"), "maximum allowed value of a user defined priority is 1000000000"),
		}},
		{"unknown system- names are reserved", func(pc *schedulingv1.PriorityClass) { pc.Name = "system-high" }, field.ErrorList{
			field.Forbidden(name, "system-high is not a known system priority class"),
		}},
		{"system classes must keep their value", func(pc *schedulingv1.PriorityClass) { pc.Name = SystemClusterCritical }, field.ErrorList{
			field.Forbidden(name, "value of system-cluster-critical PriorityClass must be 2000000000"),
		}},
		{"system classes are not the global default", func(pc *schedulingv1.PriorityClass) {
			pc.Name, pc.Value, pc.GlobalDefault = SystemClusterCritical, SystemCriticalPriority, true
		}, field.ErrorList{
			field.Forbidden(name, "globalDefault of system-cluster-critical PriorityClass must be false"),
		}},
		{"class is cluster-scoped", func(pc *schedulingv1.PriorityClass) { pc.Namespace = "default" }, field.ErrorList{
			field.Forbidden(field.NewPath("metadata", "namespace"), ""),
		}},
		{"empty preemptionPolicy is required", func(pc *schedulingv1.PriorityClass) { pc.PreemptionPolicy = ptr.To[corev1.PreemptionPolicy]("") }, field.ErrorList{
			field.Required(field.NewPath("preemptionPolicy"), ""),
		}},
		{"unknown preemptionPolicy is not supported", func(pc *schedulingv1.PriorityClass) { pc.PreemptionPolicy = ptr.To[corev1.PreemptionPolicy]("Always") }, field.ErrorList{
			field.NotSupported(field.NewPath("preemptionPolicy"), "Always", []string{"PreemptLowerPriority", "Never"}),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pc := validPriorityClass()
			tc.mutate(pc)
			matcher.Test(t, tc.want, ValidatePriorityClass(pc))
		})
	}
}

func TestValidatePriorityClassUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*schedulingv1.PriorityClass)
		want   field.ErrorList
	}{
		{"description and default flag may change", func(pc *schedulingv1.PriorityClass) {
			pc.Description = "for latency-sensitive services"
			pc.GlobalDefault = true
		}, nil},
		{"value is immutable", func(pc *schedulingv1.PriorityClass) { pc.Value = 2000 }, field.ErrorList{
			field.Forbidden(field.NewPath("value"), "may not be changed in an update."),
		}},
		{"preemptionPolicy is immutable", func(pc *schedulingv1.PriorityClass) { pc.PreemptionPolicy = ptr.To(corev1.PreemptNever) }, field.ErrorList{
			field.Invalid(field.NewPath("preemptionPolicy"), nil, "field is immutable"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validPriorityClass()
			pc := old.DeepCopy()
			tc.mutate(pc)
			matcher.Test(t, tc.want, ValidatePriorityClassUpdate(pc, old))
		})
	}
}
