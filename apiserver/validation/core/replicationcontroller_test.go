package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validRC() *corev1.ReplicationController {
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr[int32](3),
			Selector: map[string]string{"app": "web"},
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}}, Spec: validPodSpec()},
		},
	}
}

func TestValidateReplicationController(t *testing.T) {
	runCases(t, validRC, ValidateReplicationController, []tcase[corev1.ReplicationController]{
		{name: "valid controller passes"},
		{name: "zero replicas pass", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptr[int32](0) }},
		{name: "name is a DNS subdomain", mutate: func(rc *corev1.ReplicationController) { rc.Name = "Web" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "replicas are not negative", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptr[int32](-1) },
			typ: field.ErrorTypeInvalid, field: "spec.replicas", detail: "must be greater than or equal to 0"},
		{name: "minReadySeconds is not negative", mutate: func(rc *corev1.ReplicationController) { rc.Spec.MinReadySeconds = -1 },
			typ: field.ErrorTypeInvalid, field: "spec.minReadySeconds"},
		{name: "selector is required", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Selector = nil },
			typ: field.ErrorTypeRequired, field: "spec.selector"},
		{name: "template is required", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Template = nil },
			typ: field.ErrorTypeRequired, field: "spec.template"},
		{name: "selector must match template labels", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Selector = map[string]string{"app": "api"} },
			typ: field.ErrorTypeInvalid, field: "spec.template.metadata.labels", detail: "`selector` does not match template `labels`"},
		{name: "template containers are validated", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Template.Spec.Containers[0].Image = "" },
			typ: field.ErrorTypeRequired, field: "spec.template.spec.containers[0].image"},
		{name: "template restartPolicy is Always", mutate: func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		},
			typ: field.ErrorTypeNotSupported, field: "spec.template.spec.restartPolicy"},
		{name: "template may not set activeDeadlineSeconds", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Template.Spec.ActiveDeadlineSeconds = ptr[int64](10) },
			typ: field.ErrorTypeForbidden, field: "spec.template.spec.activeDeadlineSeconds"},
	})
	runUpdateCases(t, validRC, ValidateReplicationControllerUpdate, []ucase[corev1.ReplicationController]{
		{name: "scaling passes", change: func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptr[int32](5) }},
		{name: "selector may change if it still matches", change: func(rc *corev1.ReplicationController) { rc.Spec.Selector = map[string]string{"tier": "front"} }},
		{name: "scaling below zero fails", change: func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptr[int32](-1) },
			typ: field.ErrorTypeInvalid, field: "spec.replicas"},
	})
	runUpdateCases(t, validRC, ValidateReplicationControllerStatusUpdate, []ucase[corev1.ReplicationController]{
		{name: "consistent status passes", change: func(rc *corev1.ReplicationController) {
			rc.Status = corev1.ReplicationControllerStatus{Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, ObservedGeneration: 1}
		}},
		{name: "counts are not negative", change: func(rc *corev1.ReplicationController) { rc.Status.Replicas = -1 },
			typ: field.ErrorTypeInvalid, field: "status.replicas"},
		{name: "ready replicas do not exceed replicas", change: func(rc *corev1.ReplicationController) {
			rc.Status = corev1.ReplicationControllerStatus{Replicas: 1, ReadyReplicas: 2}
		}, typ: field.ErrorTypeInvalid, field: "status.readyReplicas", detail: "cannot be greater than status.replicas"},
		{name: "available replicas do not exceed ready replicas", change: func(rc *corev1.ReplicationController) {
			rc.Status = corev1.ReplicationControllerStatus{Replicas: 3, ReadyReplicas: 1, AvailableReplicas: 2}
		}, typ: field.ErrorTypeInvalid, field: "status.availableReplicas", detail: "cannot be greater than readyReplicas"},
	})
}

// TestRCSelectorMismatchMessage pins the exact text users see for the most common workload mistake.
func TestRCSelectorMismatchMessage(t *testing.T) {
	rc := validRC()
	rc.Spec.Selector = map[string]string{"app": "api"}
	errs := ValidateReplicationController(rc)
	want := "spec.template.metadata.labels: Invalid value: "
	for _, e := range errs {
		if e.Field == "spec.template.metadata.labels" {
			if got := e.Error(); len(got) < len(want) || got[:len(want)] != want || e.Detail != "`selector` does not match template `labels`" {
				t.Fatalf("unexpected message %q", got)
			}
			return
		}
	}
	t.Fatalf("no selector error in %v", errs)
}
