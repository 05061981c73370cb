package apps

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestValidateReplicaSet(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.ReplicaSet)
		want   field.ErrorList
	}{
		{"valid replicaset passes", func(*appsv1.ReplicaSet) {}, nil},
		{"negative replicas are invalid", func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To[int32](-2) }, field.ErrorList{
			field.Invalid(path("spec", "replicas"), nil, "must be greater than or equal to 0"),
		}},
		{"negative minReadySeconds is invalid", func(rs *appsv1.ReplicaSet) { rs.Spec.MinReadySeconds = -1 }, field.ErrorList{
			field.Invalid(path("spec", "minReadySeconds"), nil, ""),
		}},
		{"missing selector is required", func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil }, field.ErrorList{
			field.Required(path("spec", "selector"), ""),
			field.Invalid(path("spec", "template", "metadata", "labels"), nil, "`selector` does not match template `labels`"),
		}},
		{"empty selector is invalid", func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = &metav1.LabelSelector{} }, field.ErrorList{
			field.Invalid(path("spec", "selector"), nil, "empty selector is invalid for replicaset"),
		}},
		{"template labels must match the selector", func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Labels = nil }, field.ErrorList{
			field.Invalid(path("spec", "template", "metadata", "labels"), nil, "`selector` does not match template `labels`"),
		}},
		{"restartPolicy Never is not supported", func(rs *appsv1.ReplicaSet) {
			rs.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		}, field.ErrorList{
			field.NotSupported(path("spec", "template", "spec", "restartPolicy"), corev1.RestartPolicyNever, []string{"Always"}),
		}},
		{"activeDeadlineSeconds is forbidden", func(rs *appsv1.ReplicaSet) {
			rs.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
		}, field.ErrorList{
			field.Forbidden(path("spec", "template", "spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicaSet is not Supported"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := validReplicaSet()
			tc.mutate(rs)
			matcher.Test(t, tc.want, ValidateReplicaSet(rs))
		})
	}
}

func TestValidateReplicaSetUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.ReplicaSet)
		want   field.ErrorList
	}{
		{"scaling passes", func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To[int32](0) }, nil},
		{"selector is immutable", func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpDoesNotExist}}
		}, field.ErrorList{
			field.Invalid(path("spec", "selector"), nil, "field is immutable"),
		}},
		{"name is immutable", func(rs *appsv1.ReplicaSet) { rs.Name = "other" }, field.ErrorList{
			field.Invalid(path("metadata", "name"), nil, "field is immutable"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validReplicaSet()
			rs := validReplicaSet()
			tc.mutate(rs)
			matcher.Test(t, tc.want, ValidateReplicaSetUpdate(rs, old))
		})
	}
}

func TestValidateReplicaSetStatusUpdate(t *testing.T) {
	cases := []struct {
		name   string
		status appsv1.ReplicaSetStatus
		want   field.ErrorList
	}{
		{"consistent status passes", appsv1.ReplicaSetStatus{Replicas: 2, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 3}, nil},
		{"negative counters are invalid", appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: -1, ObservedGeneration: -1, TerminatingReplicas: ptr.To[int32](-1)}, field.ErrorList{
			field.Invalid(path("status", "fullyLabeledReplicas"), nil, ""),
			field.Invalid(path("status", "terminatingReplicas"), nil, ""),
			field.Invalid(path("status", "observedGeneration"), nil, ""),
		}},
		{"subsets may not exceed replicas", appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}, field.ErrorList{
			field.Invalid(path("status", "fullyLabeledReplicas"), nil, "cannot be greater than status.replicas"),
			field.Invalid(path("status", "readyReplicas"), nil, "cannot be greater than status.replicas"),
			field.Invalid(path("status", "availableReplicas"), nil, "cannot be greater than status.replicas"),
		}},
		{"available may not exceed ready", appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1, AvailableReplicas: 2}, field.ErrorList{
			field.Invalid(path("status", "availableReplicas"), nil, "cannot be greater than readyReplicas"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validReplicaSet()
			rs := old.DeepCopy()
			rs.Status = tc.status
			matcher.Test(t, tc.want, ValidateReplicaSetStatusUpdate(rs, old))
		})
	}
}
