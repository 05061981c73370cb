package apps

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestValidateDaemonSet(t *testing.T) {
	strategyPath := path("spec", "updateStrategy")
	rollingPath := strategyPath.Child("rollingUpdate")
	cases := []struct {
		name   string
		mutate func(*appsv1.DaemonSet)
		want   field.ErrorList
	}{
		{"valid daemonset passes", func(*appsv1.DaemonSet) {}, nil},
		{"surge-only rollout passes", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromString("10%"))}
		}, nil},
		{"OnDelete passes", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		}, nil},
		{"missing selector is required", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = nil }, field.ErrorList{
			field.Required(path("spec", "selector"), ""),
			field.Invalid(path("spec", "template", "metadata", "labels"), nil, "`selector` does not match template `labels`"),
		}},
		{"empty selector is invalid", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} }, field.ErrorList{
			field.Invalid(path("spec", "selector"), nil, "empty selector is invalid for daemonset"),
		}},
		{"template labels must match the selector", func(ds *appsv1.DaemonSet) {
			ds.Spec.Selector.MatchLabels = map[string]string{"app": "agent"}
		}, field.ErrorList{
			field.Invalid(path("spec", "template", "metadata", "labels"), nil, "`selector` does not match template `labels`"),
		}},
		{"restartPolicy must be Always", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.RestartPolicy = "OnFailure" }, field.ErrorList{
			field.NotSupported(path("spec", "template", "spec", "restartPolicy"), "OnFailure", []string{"Always"}),
		}},
		{"negative minReadySeconds is invalid", func(ds *appsv1.DaemonSet) { ds.Spec.MinReadySeconds = -5 }, field.ErrorList{
			field.Invalid(path("spec", "minReadySeconds"), nil, ""),
		}},
		{"negative revisionHistoryLimit is invalid", func(ds *appsv1.DaemonSet) { ds.Spec.RevisionHistoryLimit = ptr.To[int32](-1) }, field.ErrorList{
			field.Invalid(path("spec", "revisionHistoryLimit"), nil, ""),
		}},
		{"unknown update strategy is not supported", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: "Surge"}
		}, field.ErrorList{
			field.NotSupported(strategyPath, "Surge", []string{"RollingUpdate", "OnDelete"}),
		}},
		{"RollingUpdate needs parameters", func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.RollingUpdate = nil }, field.ErrorList{
			field.Required(rollingPath, ""),
		}},
		{"maxSurge and maxUnavailable may not both be set", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(1))
		}, field.ErrorList{
			field.Invalid(rollingPath.Child("maxSurge"), nil, "may not be set when maxUnavailable is non-zero"),
		}},
		{"maxSurge and maxUnavailable may not both be zero", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}, field.ErrorList{
			field.Required(rollingPath.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"),
		}},
		{"maxSurge may not exceed 100%", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: ptr.To(intstr.FromString("101%"))}
		}, field.ErrorList{
			field.Invalid(rollingPath.Child("maxSurge"), nil, "must not be greater than 100%"),
		}},
		{"negative maxUnavailable is invalid", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(-1))
		}, field.ErrorList{
			field.Invalid(rollingPath.Child("maxUnavailable"), nil, "must be greater than or equal to 0"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := validDaemonSet()
			tc.mutate(ds)
			matcher.Test(t, tc.want, ValidateDaemonSet(ds))
		})
	}
}

func TestValidateDaemonSetUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.DaemonSet)
		want   field.ErrorList
	}{
		{"template change passes", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:2" }, nil},
		{"selector is immutable", func(ds *appsv1.DaemonSet) {
			ds.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists}}}
		}, field.ErrorList{
			field.Invalid(path("spec", "selector"), nil, "field is immutable"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validDaemonSet()
			ds := validDaemonSet()
			tc.mutate(ds)
			matcher.Test(t, tc.want, ValidateDaemonSetUpdate(ds, old))
		})
	}
}

func TestValidateDaemonSetStatusUpdate(t *testing.T) {
	cases := []struct {
		name   string
		status appsv1.DaemonSetStatus
		want   field.ErrorList
	}{
		{"consistent status passes", appsv1.DaemonSetStatus{CurrentNumberScheduled: 2, DesiredNumberScheduled: 2, NumberReady: 2, CollisionCount: ptr.To[int32](1)}, nil},
		{"negative counters are invalid", appsv1.DaemonSetStatus{NumberMisscheduled: -1, NumberUnavailable: -1, CollisionCount: ptr.To[int32](1)}, field.ErrorList{
			field.Invalid(path("status", "numberMisscheduled"), nil, ""),
			field.Invalid(path("status", "numberUnavailable"), nil, ""),
		}},
		{"collisionCount may not go down", appsv1.DaemonSetStatus{CollisionCount: ptr.To[int32](0)}, field.ErrorList{
			field.Invalid(path("status", "collisionCount"), nil, "cannot be decremented"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validDaemonSet()
			old.Status.CollisionCount = ptr.To[int32](1)
			ds := old.DeepCopy()
			ds.Status = tc.status
			matcher.Test(t, tc.want, ValidateDaemonSetStatusUpdate(ds, old))
		})
	}
}
