package apps

import (
	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateDaemonSet validates a DaemonSet on create.
func ValidateDaemonSet(obj *appsv1.DaemonSet) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&obj.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	allErrs = append(allErrs, validateDaemonSetSpec(&obj.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidateDaemonSetUpdate validates an update of a DaemonSet's metadata and spec; the selector is
// immutable in apps/v1.
func ValidateDaemonSetUpdate(obj, old *appsv1.DaemonSet) field.ErrorList {
	specPath := field.NewPath("spec")
	allErrs := apivalidation.ValidateObjectMetaUpdate(&obj.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateDaemonSetSpec(&obj.Spec, specPath)...)
	allErrs = append(allErrs, apivalidation.ValidateImmutableField(obj.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
	return allErrs
}

// ValidateDaemonSetStatusUpdate validates a write to the status subresource of a DaemonSet.
func ValidateDaemonSetStatusUpdate(obj, old *appsv1.DaemonSet) field.ErrorList {
	statusPath := field.NewPath("status")
	allErrs := apivalidation.ValidateObjectMetaUpdate(&obj.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateDaemonSetStatus(&obj.Status, statusPath)...)
	allErrs = append(allErrs, validateCollisionCount(obj.Status.CollisionCount, old.Status.CollisionCount, statusPath.Child("collisionCount"))...)
	return allErrs
}

func validateDaemonSetSpec(spec *appsv1.DaemonSetSpec, fldPath *field.Path) field.ErrorList {
	selector, allErrs := validateWorkloadSelector(spec.Selector, "daemonset", fldPath.Child("selector"))
	templatePath := fldPath.Child("template")
	allErrs = append(allErrs, validateTemplateMatchesSelector(selector, &spec.Template, templatePath)...)
	allErrs = append(allErrs, validateLongRunningPodTemplate(&spec.Template, "DaemonSet", templatePath)...)
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	allErrs = append(allErrs, validateDaemonSetUpdateStrategy(&spec.UpdateStrategy, fldPath.Child("updateStrategy"))...)
	if spec.RevisionHistoryLimit != nil {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}
	return allErrs
}

func validateDaemonSetUpdateStrategy(strategy *appsv1.DaemonSetUpdateStrategy, fldPath *field.Path) field.ErrorList {
	switch strategy.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
		return nil
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if strategy.RollingUpdate == nil {
			return field.ErrorList{field.Required(fldPath.Child("rollingUpdate"), "")}
		}
		return validateRollingUpdateDaemonSet(strategy.RollingUpdate, fldPath.Child("rollingUpdate"))
	default:
		return field.ErrorList{field.NotSupported(fldPath, strategy.Type, []appsv1.DaemonSetUpdateStrategyType{appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType})}
	}
}

func validateRollingUpdateDaemonSet(ru *appsv1.RollingUpdateDaemonSet, fldPath *field.Path) field.ErrorList {
	maxUnavailable, maxSurge := derefIntOrString(ru.MaxUnavailable), derefIntOrString(ru.MaxSurge)
	allErrs := ValidatePositiveIntOrPercent(maxUnavailable, fldPath.Child("maxUnavailable"))
	allErrs = append(allErrs, ValidatePositiveIntOrPercent(maxSurge, fldPath.Child("maxSurge"))...)
	allErrs = append(allErrs, IsNotMoreThan100Percent(maxUnavailable, fldPath.Child("maxUnavailable"))...)
	allErrs = append(allErrs, IsNotMoreThan100Percent(maxSurge, fldPath.Child("maxSurge"))...)

	// A node runs one daemon pod at a time, so a rollout either surges or takes pods down, never both,
	// and must do one of the two to make progress.
	hasUnavailable := intOrPercentValue(maxUnavailable) != 0
	hasSurge := intOrPercentValue(maxSurge) != 0
	switch {
	case hasUnavailable && hasSurge:
		allErrs = append(allErrs, field.Invalid(fldPath.Child("maxSurge"), maxSurge, "may not be set when maxUnavailable is non-zero"))
	case !hasUnavailable && !hasSurge:
		allErrs = append(allErrs, field.Required(fldPath.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
	}
	return allErrs
}

func validateDaemonSetStatus(status *appsv1.DaemonSetStatus, fldPath *field.Path) field.ErrorList {
	allErrs := validateNonnegativeCounts(fldPath, []namedCount{
		{"currentNumberScheduled", status.CurrentNumberScheduled},
		{"numberMisscheduled", status.NumberMisscheduled},
		{"desiredNumberScheduled", status.DesiredNumberScheduled},
		{"numberReady", status.NumberReady},
	})
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(status.ObservedGeneration, fldPath.Child("observedGeneration"))...)
	allErrs = append(allErrs, validateNonnegativeCounts(fldPath, []namedCount{
		{"updatedNumberScheduled", status.UpdatedNumberScheduled},
		{"numberAvailable", status.NumberAvailable},
		{"numberUnavailable", status.NumberUnavailable},
	})...)
	if status.CollisionCount != nil {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(*status.CollisionCount), fldPath.Child("collisionCount"))...)
	}
	return allErrs
}
