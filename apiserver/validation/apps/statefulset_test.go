package apps

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestValidateStatefulSet(t *testing.T) {
	strategyPath := path("spec", "updateStrategy")
	claimsPath := path("spec", "volumeClaimTemplates")
	cases := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		want   field.ErrorList
	}{
		{"valid statefulset passes", func(*appsv1.StatefulSet) {}, nil},
		{"serviceName is optional", func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "" }, nil},
		{"Parallel and OnDelete pass", func(ss *appsv1.StatefulSet) {
			ss.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
			ss.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}, nil},
		{"name must be a DNS label", func(ss *appsv1.StatefulSet) { ss.Name = "db.primary" }, field.ErrorList{
			field.Invalid(path("metadata", "name"), nil, "must not contain dots"),
		}},
		{"serviceName must be a DNS label", func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "DB" }, field.ErrorList{
			field.Invalid(path("spec", "serviceName"), nil, "RFC 1123 label"),
		}},
		{"podManagementPolicy is required", func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = "" }, field.ErrorList{
			field.Required(path("spec", "podManagementPolicy"), ""),
		}},
		{"unknown podManagementPolicy is invalid", func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = "Random" }, field.ErrorList{
			field.Invalid(path("spec", "podManagementPolicy"), nil, "must be 'OrderedReady' or 'Parallel'"),
		}},
		{"updateStrategy type is required", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{} }, field.ErrorList{
			field.Required(strategyPath, ""),
		}},
		{"the alpha Recreate strategy is rejected", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RecreateStatefulSetStrategyType}
		}, field.ErrorList{
			field.Invalid(strategyPath, nil, "must be 'RollingUpdate' or 'OnDelete'"),
		}},
		{"OnDelete takes no rollingUpdate", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
		}, field.ErrorList{
			field.Invalid(strategyPath.Child("rollingUpdate"), nil, "only allowed for updateStrategy 'RollingUpdate'"),
		}},
		{"negative partition is invalid", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](-1)
		}, field.ErrorList{
			field.Invalid(strategyPath.Child("rollingUpdate", "partition"), nil, "must be greater than or equal to 0"),
		}},
		{"maxUnavailable may not be 0", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("0%"))
		}, field.ErrorList{
			field.Invalid(strategyPath.Child("rollingUpdate", "maxUnavailable"), nil, "cannot be 0"),
		}},
		{"maxUnavailable may not exceed 100%", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("120%"))
		}, field.ErrorList{
			field.Invalid(strategyPath.Child("rollingUpdate", "maxUnavailable"), nil, "must not be greater than 100%"),
		}},
		{"maxUnavailable of 2 passes", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(2))
		}, nil},
		{"unknown claim retention policy is not supported", func(ss *appsv1.StatefulSet) {
			ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = "Archive"
		}, field.ErrorList{
			field.NotSupported(path("spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"), "Archive", []string{"Retain", "Delete"}),
		}},
		{"negative replicas are invalid", func(ss *appsv1.StatefulSet) { ss.Spec.Replicas = ptr.To[int32](-1) }, field.ErrorList{
			field.Invalid(path("spec", "replicas"), nil, ""),
		}},
		{"negative minReadySeconds is invalid", func(ss *appsv1.StatefulSet) { ss.Spec.MinReadySeconds = -1 }, field.ErrorList{
			field.Invalid(path("spec", "minReadySeconds"), nil, ""),
		}},
		{"negative ordinals start is invalid", func(ss *appsv1.StatefulSet) {
			ss.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1}
		}, field.ErrorList{
			field.Invalid(path("spec", "ordinals", "start"), nil, ""),
		}},
		{"negative revisionHistoryLimit is invalid", func(ss *appsv1.StatefulSet) { ss.Spec.RevisionHistoryLimit = ptr.To[int32](-3) }, field.ErrorList{
			field.Invalid(path("spec", "revisionHistoryLimit"), nil, ""),
		}},
		{"missing selector is required", func(ss *appsv1.StatefulSet) { ss.Spec.Selector = nil }, field.ErrorList{
			field.Required(path("spec", "selector"), ""),
			field.Invalid(path("spec", "template", "metadata", "labels"), nil, "`selector` does not match template `labels`"),
		}},
		{"empty selector is invalid", func(ss *appsv1.StatefulSet) { ss.Spec.Selector = &metav1.LabelSelector{} }, field.ErrorList{
			field.Invalid(path("spec", "selector"), nil, "empty selector is invalid for statefulset"),
		}},
		{"template labels must match the selector", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Labels = map[string]string{"app": "db"} }, field.ErrorList{
			field.Invalid(path("spec", "template", "metadata", "labels"), nil, "`selector` does not match template `labels`"),
		}},
		{"restartPolicy must be Always", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, field.ErrorList{
			field.NotSupported(path("spec", "template", "spec", "restartPolicy"), corev1.RestartPolicyNever, []string{"Always"}),
		}},
		{"activeDeadlineSeconds is forbidden", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](9) }, field.ErrorList{
			field.Forbidden(path("spec", "template", "spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in StatefulSet is not Supported"),
		}},
		{"mounts must name a template volume or a claim template", func(ss *appsv1.StatefulSet) {
			c := &ss.Spec.Template.Spec.Containers[0]
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "cache", MountPath: "/cache"})
		}, field.ErrorList{
			field.NotFound(path("spec", "template", "spec", "containers").Index(0).Child("volumeMounts").Index(1).Child("name"), "cache"),
		}},
		{"claim template name is required", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates = append(ss.Spec.VolumeClaimTemplates, claimTemplate(""))
		}, field.ErrorList{
			field.Required(claimsPath.Index(1).Child("metadata", "name"), ""),
		}},
		{"claim template names are unique", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates = append(ss.Spec.VolumeClaimTemplates, claimTemplate("data"))
		}, field.ErrorList{
			field.Duplicate(claimsPath.Index(1).Child("metadata", "name"), "data"),
		}},
		{"claim template name must be a DNS label", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates = append(ss.Spec.VolumeClaimTemplates, claimTemplate("Logs"))
		}, field.ErrorList{
			field.Invalid(claimsPath.Index(1).Child("metadata", "name"), nil, "RFC 1123 label"),
		}},
		{"claim template needs access modes", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil
		}, field.ErrorList{
			field.Required(claimsPath.Index(0).Child("spec", "accessModes"), "at least 1 access mode is required"),
		}},
		{"unknown access mode is not supported", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadWriteSometimes"}
		}, field.ErrorList{
			field.NotSupported(claimsPath.Index(0).Child("spec", "accessModes"), "ReadWriteSometimes", []string(nil)),
		}},
		{"claim template needs a storage request", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests = nil
		}, field.ErrorList{
			field.Required(claimsPath.Index(0).Child("spec", "resources").Key("storage"), ""),
		}},
		{"storage request must be positive", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("0")
		}, field.ErrorList{
			field.Invalid(claimsPath.Index(0).Child("spec", "resources").Key("storage"), nil, "must be greater than zero"),
		}},
		{"unknown volume mode is not supported", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Spec.VolumeMode = ptr.To[corev1.PersistentVolumeMode]("Tape")
		}, field.ErrorList{
			field.NotSupported(claimsPath.Index(0).Child("spec", "volumeMode"), "Tape", []string(nil)),
		}},
		{"storageClassName must be a DNS subdomain", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = ptr.To("Fast_SSD")
		}, field.ErrorList{
			field.Invalid(claimsPath.Index(0).Child("spec", "storageClassName"), nil, ""),
		}},
		{"claim template labels are validated", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Labels = map[string]string{"bad key!": "x"}
		}, field.ErrorList{
			field.Invalid(claimsPath.Index(0).Child("metadata", "labels"), nil, ""),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ss := validStatefulSet()
			tc.mutate(ss)
			matcher.Test(t, tc.want, ValidateStatefulSet(ss))
		})
	}
}

func TestTemplateWithClaimVolumesAddsClaimsAsPodVolumes(t *testing.T) {
	ss := validStatefulSet()
	ss.Spec.Template.Spec.Volumes = []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	ss.Spec.VolumeClaimTemplates = append(ss.Spec.VolumeClaimTemplates, claimTemplate("logs"), claimTemplate("Bad_Name"))

	got := templateWithClaimVolumes(&ss.Spec).Spec.Volumes

	wantNames := []string{"config", "data", "logs"}
	if len(got) != len(wantNames) {
		t.Fatalf("got %d volumes, want %d: %+v", len(got), len(wantNames), got)
	}
	for i, name := range wantNames {
		if got[i].Name != name {
			t.Errorf("volume %d is %q, want %q", i, got[i].Name, name)
		}
	}
	if got[0].EmptyDir == nil {
		t.Errorf("template volume config was replaced: %+v", got[0])
	}
	if got[1].PersistentVolumeClaim == nil || got[1].PersistentVolumeClaim.ClaimName != "data" {
		t.Errorf("claim data did not replace the template volume of the same name: %+v", got[1])
	}
	if got[2].PersistentVolumeClaim == nil || got[2].PersistentVolumeClaim.ClaimName != "logs" {
		t.Errorf("claim logs was not appended: %+v", got[2])
	}
	if ss.Spec.Template.Spec.Volumes[1].EmptyDir == nil {
		t.Errorf("the statefulset's own template was modified")
	}
}

func TestValidateStatefulSetUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		want   field.ErrorList
	}{
		{"allowed fields may change", func(ss *appsv1.StatefulSet) {
			ss.Spec.Replicas = ptr.To[int32](5)
			ss.Spec.Template.Spec.Containers[0].Image = "postgres:17"
			ss.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](2)
			ss.Spec.MinReadySeconds = 10
			ss.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 1}
			ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
		}, nil},
		{"serviceName may not change", func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "db-headless" }, field.ErrorList{
			field.Forbidden(path("spec"), "updates to statefulset spec for fields other than"),
		}},
		{"podManagementPolicy may not change", func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }, field.ErrorList{
			field.Forbidden(path("spec"), "are forbidden"),
		}},
		{"volumeClaimTemplates may not change", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		}, field.ErrorList{
			field.Forbidden(path("spec"), ""),
		}},
		{"revisionHistoryLimit may not change", func(ss *appsv1.StatefulSet) { ss.Spec.RevisionHistoryLimit = ptr.To[int32](3) }, field.ErrorList{
			field.Forbidden(path("spec"), ""),
		}},
		{"spec rules still apply", func(ss *appsv1.StatefulSet) { ss.Spec.Replicas = ptr.To[int32](-1) }, field.ErrorList{
			field.Invalid(path("spec", "replicas"), nil, ""),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validStatefulSet()
			ss := validStatefulSet()
			tc.mutate(ss)
			matcher.Test(t, tc.want, ValidateStatefulSetUpdate(ss, old))
		})
	}
}

func TestValidateStatefulSetUpdateDoesNotRecheckName(t *testing.T) {
	// Names valid under older, looser rules must stay updatable so finalizers can be removed.
	old := validStatefulSet()
	old.Name = "db.primary"
	ss := old.DeepCopy()
	ss.Spec.Replicas = ptr.To[int32](1)
	matcher.Test(t, nil, ValidateStatefulSetUpdate(ss, old))
}

func TestValidateStatefulSetStatusUpdate(t *testing.T) {
	cases := []struct {
		name   string
		status appsv1.StatefulSetStatus
		want   field.ErrorList
	}{
		{"consistent status passes", appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2, CollisionCount: ptr.To[int32](1)}, nil},
		{"negative counters are invalid", appsv1.StatefulSetStatus{Replicas: 1, CurrentReplicas: -1, ObservedGeneration: -1, CollisionCount: ptr.To[int32](1)}, field.ErrorList{
			field.Invalid(path("status", "currentReplicas"), nil, ""),
			field.Invalid(path("status", "observedGeneration"), nil, ""),
		}},
		{"counters may not exceed replicas", appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 2, UpdatedReplicas: 2, CollisionCount: ptr.To[int32](1)}, field.ErrorList{
			field.Invalid(path("status", "readyReplicas"), nil, "cannot be greater than status.replicas"),
			field.Invalid(path("status", "updatedReplicas"), nil, "cannot be greater than status.replicas"),
		}},
		{"available may not exceed ready", appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 1, AvailableReplicas: 2, CollisionCount: ptr.To[int32](1)}, field.ErrorList{
			field.Invalid(path("status", "availableReplicas"), nil, "cannot be greater than status.readyReplicas"),
		}},
		{"collisionCount may not be decremented", appsv1.StatefulSetStatus{}, field.ErrorList{
			field.Invalid(path("status", "collisionCount"), nil, "cannot be decremented"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validStatefulSet()
			old.Status.CollisionCount = ptr.To[int32](1)
			ss := old.DeepCopy()
			ss.Status = tc.status
			matcher.Test(t, tc.want, ValidateStatefulSetStatusUpdate(ss, old))
		})
	}
}
