package apps

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/apiserver/validation/core"
)

// statefulSetForbiddenUpdateMsg lists, in the upstream wording, the spec fields an update may change.
const statefulSetForbiddenUpdateMsg = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"

// ValidateStatefulSet validates a StatefulSet on create. Its name must be a DNS label because it
// becomes the hostname prefix of every pod.
func ValidateStatefulSet(obj *appsv1.StatefulSet) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&obj.ObjectMeta, true, apivalidation.NameIsDNSLabel, field.NewPath("metadata"))
	allErrs = append(allErrs, validateStatefulSetSpec(&obj.Spec, field.NewPath("spec"), true)...)
	return allErrs
}

// ValidateStatefulSetUpdate validates an update of a StatefulSet. Only replicas, ordinals, template,
// updateStrategy, persistentVolumeClaimRetentionPolicy and minReadySeconds may change: the rest defines
// the identity and storage of pods that already exist. The name is not re-checked, so objects created
// under older, looser name rules can still be updated and deleted.
func ValidateStatefulSetUpdate(obj, old *appsv1.StatefulSet) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&obj.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	// Claim templates cannot change (checked below), so their contents are not validated again.
	allErrs = append(allErrs, validateStatefulSetSpec(&obj.Spec, field.NewPath("spec"), false)...)

	clone := obj.Spec.DeepCopy()
	clone.Replicas = old.Spec.Replicas
	clone.Template = old.Spec.Template
	clone.UpdateStrategy = old.Spec.UpdateStrategy
	clone.MinReadySeconds = old.Spec.MinReadySeconds
	clone.Ordinals = old.Spec.Ordinals
	clone.PersistentVolumeClaimRetentionPolicy = old.Spec.PersistentVolumeClaimRetentionPolicy
	if !apiequality.Semantic.DeepEqual(*clone, old.Spec) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec"), statefulSetForbiddenUpdateMsg))
	}
	return allErrs
}

// ValidateStatefulSetStatusUpdate validates a write to the status subresource of a StatefulSet.
func ValidateStatefulSetStatusUpdate(obj, old *appsv1.StatefulSet) field.ErrorList {
	statusPath := field.NewPath("status")
	allErrs := validateStatefulSetStatus(&obj.Status, statusPath)
	allErrs = append(allErrs, apivalidation.ValidateObjectMetaUpdate(&obj.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))...)
	allErrs = append(allErrs, validateCollisionCount(obj.Status.CollisionCount, old.Status.CollisionCount, statusPath.Child("collisionCount"))...)
	return allErrs
}

func validateStatefulSetSpec(spec *appsv1.StatefulSetSpec, fldPath *field.Path, validateClaims bool) field.ErrorList {
	var allErrs field.ErrorList

	switch spec.PodManagementPolicy {
	case "":
		allErrs = append(allErrs, field.Required(fldPath.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		allErrs = append(allErrs, field.Invalid(fldPath.Child("podManagementPolicy"), spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}

	allErrs = append(allErrs, validateStatefulSetUpdateStrategy(&spec.UpdateStrategy, fldPath.Child("updateStrategy"))...)
	allErrs = append(allErrs, validatePVCRetentionPolicy(spec.PersistentVolumeClaimRetentionPolicy, fldPath.Child("persistentVolumeClaimRetentionPolicy"))...)
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(derefInt32(spec.Replicas)), fldPath.Child("replicas"))...)
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(spec.Ordinals.Start), fldPath.Child("ordinals", "start"))...)
	}
	if spec.RevisionHistoryLimit != nil {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}
	// serviceName is optional, but when set it becomes the pods' subdomain, which must be a DNS label.
	if spec.ServiceName != "" {
		for _, msg := range utilvalidation.IsDNS1123Label(spec.ServiceName) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("serviceName"), spec.ServiceName, msg))
		}
	}

	selector, errs := validateWorkloadSelector(spec.Selector, "statefulset", fldPath.Child("selector"))
	allErrs = append(allErrs, errs...)
	templatePath := fldPath.Child("template")
	allErrs = append(allErrs, validateTemplateMatchesSelector(selector, &spec.Template, templatePath)...)
	// Pods mount their claims as volumes named after the claim templates; the controller adds those
	// volumes to each pod, so the template is validated the same way.
	allErrs = append(allErrs, core.ValidatePodTemplateSpec(templateWithClaimVolumes(spec), templatePath)...)
	allErrs = append(allErrs, validateLongRunningPodSpec(&spec.Template.Spec, "StatefulSet", templatePath.Child("spec"))...)

	if validateClaims {
		allErrs = append(allErrs, validateVolumeClaimTemplates(spec.VolumeClaimTemplates, fldPath.Child("volumeClaimTemplates"))...)
	}
	return allErrs
}

func validateStatefulSetUpdateStrategy(strategy *appsv1.StatefulSetUpdateStrategy, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch strategy.Type {
	case "":
		allErrs = append(allErrs, field.Required(fldPath, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if strategy.RollingUpdate != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("rollingUpdate"), strategy.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := strategy.RollingUpdate; ru != nil {
			rollingPath := fldPath.Child("rollingUpdate")
			allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(derefInt32(ru.Partition)), rollingPath.Child("partition"))...)
			if ru.MaxUnavailable != nil {
				p := rollingPath.Child("maxUnavailable")
				allErrs = append(allErrs, ValidatePositiveIntOrPercent(*ru.MaxUnavailable, p)...)
				if intOrPercentValue(*ru.MaxUnavailable) == 0 {
					allErrs = append(allErrs, field.Invalid(p, *ru.MaxUnavailable, "cannot be 0"))
				}
				allErrs = append(allErrs, IsNotMoreThan100Percent(*ru.MaxUnavailable, p)...)
			}
		}
	default:
		// Recreate is an alpha strategy behind a feature gate that skiff does not enable.
		allErrs = append(allErrs, field.Invalid(fldPath, strategy.Type,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}
	return allErrs
}

func validatePVCRetentionPolicy(policy *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy, fldPath *field.Path) field.ErrorList {
	if policy == nil {
		return nil
	}
	var allErrs field.ErrorList
	valid := []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
	for _, f := range []struct {
		name  string
		value appsv1.PersistentVolumeClaimRetentionPolicyType
	}{{"whenDeleted", policy.WhenDeleted}, {"whenScaled", policy.WhenScaled}} {
		switch f.value {
		case appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
		default:
			allErrs = append(allErrs, field.NotSupported(fldPath.Child(f.name), f.value, valid))
		}
	}
	return allErrs
}

// templateWithClaimVolumes returns the pod template as the controller will instantiate it: a volume
// for each claim template, replacing a template volume of the same name. Claim templates with names
// that cannot be volume names are left out; validateVolumeClaimTemplates reports them.
func templateWithClaimVolumes(spec *appsv1.StatefulSetSpec) *corev1.PodTemplateSpec {
	if len(spec.VolumeClaimTemplates) == 0 {
		return &spec.Template
	}
	t := spec.Template.DeepCopy()
	index := make(map[string]int, len(t.Spec.Volumes))
	for i, v := range t.Spec.Volumes {
		index[v.Name] = i
	}
	for _, claim := range spec.VolumeClaimTemplates {
		if len(utilvalidation.IsDNS1123Label(claim.Name)) != 0 {
			continue
		}
		v := corev1.Volume{
			Name: claim.Name,
			VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name},
			},
		}
		if i, ok := index[claim.Name]; ok {
			t.Spec.Volumes[i] = v
			continue
		}
		index[claim.Name] = len(t.Spec.Volumes)
		t.Spec.Volumes = append(t.Spec.Volumes, v)
	}
	return t
}

// validateVolumeClaimTemplates checks what each claim created from a template needs to be accepted:
// a unique name usable as a volume name, labels and annotations, access modes and a storage request.
func validateVolumeClaimTemplates(claims []corev1.PersistentVolumeClaim, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := make(map[string]bool, len(claims))
	for i := range claims {
		claim := &claims[i]
		idxPath := fldPath.Index(i)
		metaPath := idxPath.Child("metadata")
		namePath := metaPath.Child("name")
		switch {
		case claim.Name == "":
			allErrs = append(allErrs, field.Required(namePath, ""))
		case seen[claim.Name]:
			allErrs = append(allErrs, field.Duplicate(namePath, claim.Name))
		default:
			for _, msg := range utilvalidation.IsDNS1123Label(claim.Name) {
				allErrs = append(allErrs, field.Invalid(namePath, claim.Name, msg))
			}
		}
		seen[claim.Name] = true
		allErrs = append(allErrs, metavalidation.ValidateLabels(claim.Labels, metaPath.Child("labels"))...)
		allErrs = append(allErrs, apivalidation.ValidateAnnotations(claim.Annotations, metaPath.Child("annotations"))...)
		allErrs = append(allErrs, validateClaimSpec(&claim.Spec, idxPath.Child("spec"))...)
	}
	return allErrs
}

func validateClaimSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	modesPath := fldPath.Child("accessModes")
	if len(spec.AccessModes) == 0 {
		allErrs = append(allErrs, field.Required(modesPath, "at least 1 access mode is required"))
	}
	validModes := []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	for _, mode := range spec.AccessModes {
		switch mode {
		case corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod:
		default:
			allErrs = append(allErrs, field.NotSupported(modesPath, mode, validModes))
		}
	}

	storagePath := fldPath.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		allErrs = append(allErrs, field.Required(storagePath, ""))
	} else if q.Cmp(resource.Quantity{}) <= 0 {
		allErrs = append(allErrs, field.Invalid(storagePath, q.String(), "must be greater than zero"))
	}

	if spec.StorageClassName != nil && *spec.StorageClassName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*spec.StorageClassName, false) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("storageClassName"), *spec.StorageClassName, msg))
		}
	}
	if spec.VolumeMode != nil {
		switch *spec.VolumeMode {
		case corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem:
		default:
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("volumeMode"), *spec.VolumeMode, []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}))
		}
	}
	return allErrs
}

func validateStatefulSetStatus(status *appsv1.StatefulSetStatus, fldPath *field.Path) field.ErrorList {
	allErrs := validateNonnegativeCounts(fldPath, []namedCount{
		{"replicas", status.Replicas},
		{"readyReplicas", status.ReadyReplicas},
		{"currentReplicas", status.CurrentReplicas},
		{"updatedReplicas", status.UpdatedReplicas},
		{"availableReplicas", status.AvailableReplicas},
	})
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(status.ObservedGeneration, fldPath.Child("observedGeneration"))...)
	if status.CollisionCount != nil {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(*status.CollisionCount), fldPath.Child("collisionCount"))...)
	}
	allErrs = append(allErrs, validateNotAboveReplicas(status.Replicas, fldPath, []namedCount{
		{"readyReplicas", status.ReadyReplicas},
		{"currentReplicas", status.CurrentReplicas},
		{"updatedReplicas", status.UpdatedReplicas},
		{"availableReplicas", status.AvailableReplicas},
	})...)
	if status.AvailableReplicas > status.ReadyReplicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("availableReplicas"), status.AvailableReplicas, "cannot be greater than status.readyReplicas"))
	}
	return allErrs
}
