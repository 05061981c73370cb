package apps

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestValidateDeployment(t *testing.T) {
	labelsPath := path("spec", "template", "metadata", "labels")
	rollingPath := path("spec", "strategy", "rollingUpdate")
	cases := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   field.ErrorList
	}{
		{"valid deployment passes", func(*appsv1.Deployment) {}, nil},
		{"zero replicas is allowed", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](0) }, nil},
		{"missing name is required", func(d *appsv1.Deployment) { d.Name = "" }, field.ErrorList{
			field.Required(path("metadata", "name"), ""),
		}},
		{"name must be a DNS subdomain", func(d *appsv1.Deployment) { d.Name = "Web_App" }, field.ErrorList{
			field.Invalid(path("metadata", "name"), nil, "RFC 1123 subdomain"),
		}},
		{"namespace is required", func(d *appsv1.Deployment) { d.Namespace = "" }, field.ErrorList{
			field.Required(path("metadata", "namespace"), ""),
		}},
		{"negative replicas are invalid", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) }, field.ErrorList{
			field.Invalid(path("spec", "replicas"), nil, "must be greater than or equal to 0"),
		}},
		{"missing selector is required and matches no labels", func(d *appsv1.Deployment) { d.Spec.Selector = nil }, field.ErrorList{
			field.Required(path("spec", "selector"), ""),
			field.Invalid(labelsPath, nil, "`selector` does not match template `labels`"),
		}},
		{"empty selector is invalid", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, field.ErrorList{
			field.Invalid(path("spec", "selector"), nil, "empty selector is invalid for deployment"),
		}},
		{"template labels must match the selector", func(d *appsv1.Deployment) {
			d.Spec.Template.Labels = map[string]string{"app": "other"}
		}, field.ErrorList{
			field.Invalid(labelsPath, nil, "`selector` does not match template `labels`"),
		}},
		{"selector expressions are checked against template labels", func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"api", "worker"}},
			}}
		}, field.ErrorList{
			field.Invalid(labelsPath, nil, "`selector` does not match template `labels`"),
		}},
		{"selector label values must be valid", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels = map[string]string{"app": "not valid!"}
		}, field.ErrorList{
			field.Invalid(path("spec", "selector", "matchLabels"), nil, ""),
			field.Invalid(path("spec", "selector"), nil, "invalid label selector"),
		}},
		{"the pod template is validated", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" }, field.ErrorList{
			field.Required(path("spec", "template", "spec", "containers").Index(0).Child("image"), ""),
		}},
		{"restartPolicy must be Always", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, field.ErrorList{
			field.NotSupported(path("spec", "template", "spec", "restartPolicy"), corev1.RestartPolicyOnFailure, []string{"Always"}),
		}},
		{"activeDeadlineSeconds is forbidden in the template", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](30)
		}, field.ErrorList{
			field.Forbidden(path("spec", "template", "spec", "activeDeadlineSeconds"), "not Supported"),
		}},
		{"unknown strategy type is not supported", func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: "BlueGreen"}
		}, field.ErrorList{
			field.NotSupported(path("spec", "strategy"), "BlueGreen", []string{"Recreate", "RollingUpdate"}),
		}},
		{"Recreate takes no rollingUpdate", func(d *appsv1.Deployment) {
			d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
		}, field.ErrorList{
			field.Forbidden(rollingPath, "may not be specified when strategy `type` is 'Recreate'"),
		}},
		{"Recreate without rollingUpdate passes", func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}, nil},
		{"RollingUpdate needs rollingUpdate parameters", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = nil
		}, field.ErrorList{
			field.Required(rollingPath, ""),
		}},
		{"maxSurge and maxUnavailable may not both be zero", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromString("0%")),
			}
		}, field.ErrorList{
			field.Invalid(rollingPath.Child("maxUnavailable"), nil, "may not be 0 when `maxSurge` is 0"),
		}},
		{"maxUnavailable may not exceed 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("150%"))
		}, field.ErrorList{
			field.Invalid(rollingPath.Child("maxUnavailable"), nil, "must not be greater than 100%"),
		}},
		{"maxSurge may exceed 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("200%"))
		}, nil},
		{"maxSurge must be an integer or a percentage", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("two"))
		}, field.ErrorList{
			field.Invalid(rollingPath.Child("maxSurge"), nil, "a valid percent string"),
		}},
		{"negative maxSurge is invalid", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(-1))
		}, field.ErrorList{
			field.Invalid(rollingPath.Child("maxSurge"), nil, "must be greater than or equal to 0"),
		}},
		{"negative revisionHistoryLimit is invalid", func(d *appsv1.Deployment) {
			d.Spec.RevisionHistoryLimit = ptr.To[int32](-1)
		}, field.ErrorList{
			field.Invalid(path("spec", "revisionHistoryLimit"), nil, ""),
		}},
		{"zero revisionHistoryLimit is allowed", func(d *appsv1.Deployment) {
			d.Spec.RevisionHistoryLimit = ptr.To[int32](0)
		}, nil},
		{"negative minReadySeconds is invalid", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = -1 }, field.ErrorList{
			field.Invalid(path("spec", "minReadySeconds"), nil, ""),
		}},
		{"progressDeadlineSeconds must exceed minReadySeconds", func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, field.ErrorList{
			field.Invalid(path("spec", "progressDeadlineSeconds"), nil, "must be greater than minReadySeconds"),
		}},
		{"negative progressDeadlineSeconds is invalid", func(d *appsv1.Deployment) {
			d.Spec.ProgressDeadlineSeconds = ptr.To[int32](-1)
		}, field.ErrorList{
			field.Invalid(path("spec", "progressDeadlineSeconds"), nil, "must be greater than or equal to 0"),
			field.Invalid(path("spec", "progressDeadlineSeconds"), nil, "must be greater than minReadySeconds"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := validDeployment()
			tc.mutate(d)
			matcher.Test(t, tc.want, ValidateDeployment(d))
		})
	}
}

func TestValidateDeploymentUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   field.ErrorList
	}{
		{"unchanged deployment passes", func(*appsv1.Deployment) {}, nil},
		{"scaling and changing the image pass", func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr.To[int32](10)
			d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		}, nil},
		{"selector is immutable", func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "fe"}}
			d.Spec.Template.Labels = map[string]string{"app": "web", "tier": "fe"}
		}, field.ErrorList{
			field.Invalid(path("spec", "selector"), nil, "field is immutable"),
		}},
		{"spec rules still apply", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) }, field.ErrorList{
			field.Invalid(path("spec", "replicas"), nil, ""),
		}},
		{"resourceVersion is required", func(d *appsv1.Deployment) { d.ResourceVersion = "" }, field.ErrorList{
			field.Invalid(path("metadata", "resourceVersion"), nil, "must be specified for an update"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validDeployment()
			d := validDeployment()
			tc.mutate(d)
			matcher.Test(t, tc.want, ValidateDeploymentUpdate(d, old))
		})
	}
}

func TestValidateDeploymentStatusUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.DeploymentStatus)
		want   field.ErrorList
	}{
		{"consistent status passes", func(*appsv1.DeploymentStatus) {}, nil},
		{"negative replicas are invalid", func(s *appsv1.DeploymentStatus) {
			s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas = -1, -1, -1, -1
		}, field.ErrorList{
			field.Invalid(path("status", "replicas"), nil, ""),
			field.Invalid(path("status", "updatedReplicas"), nil, ""),
			field.Invalid(path("status", "readyReplicas"), nil, ""),
			field.Invalid(path("status", "availableReplicas"), nil, ""),
		}},
		{"ready replicas may not exceed replicas", func(s *appsv1.DeploymentStatus) { s.ReadyReplicas = 4 }, field.ErrorList{
			field.Invalid(path("status", "readyReplicas"), nil, "cannot be greater than status.replicas"),
		}},
		{"available replicas may not exceed ready replicas", func(s *appsv1.DeploymentStatus) {
			s.AvailableReplicas = 3
		}, field.ErrorList{
			field.Invalid(path("status", "availableReplicas"), nil, "cannot be greater than readyReplicas"),
		}},
		{"negative terminatingReplicas is invalid", func(s *appsv1.DeploymentStatus) {
			s.TerminatingReplicas = ptr.To[int32](-1)
		}, field.ErrorList{
			field.Invalid(path("status", "terminatingReplicas"), nil, ""),
		}},
		{"collisionCount may not be decremented", func(s *appsv1.DeploymentStatus) {
			s.CollisionCount = ptr.To[int32](1)
		}, field.ErrorList{
			field.Invalid(path("status", "collisionCount"), nil, "cannot be decremented"),
		}},
		{"collisionCount may not be cleared", func(s *appsv1.DeploymentStatus) { s.CollisionCount = nil }, field.ErrorList{
			field.Invalid(path("status", "collisionCount"), nil, "cannot be decremented"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validDeployment()
			old.Status = appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, CollisionCount: ptr.To[int32](2)}
			d := old.DeepCopy()
			tc.mutate(&d.Status)
			matcher.Test(t, tc.want, ValidateDeploymentStatusUpdate(d, old))
		})
	}
}
