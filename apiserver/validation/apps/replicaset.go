package apps

import (
	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateReplicaSet validates a ReplicaSet on create.
func ValidateReplicaSet(obj *appsv1.ReplicaSet) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&obj.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	allErrs = append(allErrs, validateReplicaSetSpec(&obj.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidateReplicaSetUpdate validates an update of a ReplicaSet's metadata and spec; the selector is
// immutable in apps/v1.
func ValidateReplicaSetUpdate(obj, old *appsv1.ReplicaSet) field.ErrorList {
	specPath := field.NewPath("spec")
	allErrs := apivalidation.ValidateObjectMetaUpdate(&obj.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateReplicaSetSpec(&obj.Spec, specPath)...)
	allErrs = append(allErrs, apivalidation.ValidateImmutableField(obj.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
	return allErrs
}

// ValidateReplicaSetStatusUpdate validates a write to the status subresource of a ReplicaSet.
func ValidateReplicaSetStatusUpdate(obj, old *appsv1.ReplicaSet) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&obj.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateReplicaSetStatus(&obj.Status, field.NewPath("status"))...)
	return allErrs
}

func validateReplicaSetSpec(spec *appsv1.ReplicaSetSpec, fldPath *field.Path) field.ErrorList {
	allErrs := apivalidation.ValidateNonnegativeField(int64(derefInt32(spec.Replicas)), fldPath.Child("replicas"))
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)

	selector, errs := validateWorkloadSelector(spec.Selector, "replicaset", fldPath.Child("selector"))
	allErrs = append(allErrs, errs...)
	templatePath := fldPath.Child("template")
	allErrs = append(allErrs, validateTemplateMatchesSelector(selector, &spec.Template, templatePath)...)
	allErrs = append(allErrs, validateLongRunningPodTemplate(&spec.Template, "ReplicaSet", templatePath)...)
	return allErrs
}

func validateReplicaSetStatus(status *appsv1.ReplicaSetStatus, fldPath *field.Path) field.ErrorList {
	allErrs := validateNonnegativeCounts(fldPath, []namedCount{
		{"replicas", status.Replicas},
		{"fullyLabeledReplicas", status.FullyLabeledReplicas},
		{"readyReplicas", status.ReadyReplicas},
		{"availableReplicas", status.AvailableReplicas},
	})
	if status.TerminatingReplicas != nil {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(*status.TerminatingReplicas), fldPath.Child("terminatingReplicas"))...)
	}
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(status.ObservedGeneration, fldPath.Child("observedGeneration"))...)
	allErrs = append(allErrs, validateNotAboveReplicas(status.Replicas, fldPath, []namedCount{
		{"fullyLabeledReplicas", status.FullyLabeledReplicas},
		{"readyReplicas", status.ReadyReplicas},
		{"availableReplicas", status.AvailableReplicas},
	})...)
	if status.AvailableReplicas > status.ReadyReplicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("availableReplicas"), status.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return allErrs
}
