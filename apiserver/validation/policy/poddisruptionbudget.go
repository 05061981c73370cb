package policy

import (
	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	pathvalidation "k8s.io/apimachinery/pkg/api/validation/path"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/apiserver/validation/apps"
)

// ValidatePodDisruptionBudget validates a PodDisruptionBudget on create. Upstream checks its name only
// as a path segment, so names that are not DNS subdomains are accepted.
func ValidatePodDisruptionBudget(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&pdb.ObjectMeta, true, pathvalidation.ValidatePathSegmentName, field.NewPath("metadata"))
	allErrs = append(allErrs, validatePDBSpec(&pdb.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidatePodDisruptionBudgetUpdate validates an update of a PodDisruptionBudget; its spec may change.
func ValidatePodDisruptionBudgetUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validatePDBSpec(&pdb.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidatePodDisruptionBudgetStatusUpdate validates a write to the status subresource.
func ValidatePodDisruptionBudgetStatusUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	statusPath := field.NewPath("status")
	s := &pdb.Status
	allErrs = append(allErrs, metavalidation.ValidateConditions(s.Conditions, statusPath.Child("conditions"))...)
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(s.DisruptionsAllowed), statusPath.Child("disruptionsAllowed"))...)
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(s.CurrentHealthy), statusPath.Child("currentHealthy"))...)
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(s.DesiredHealthy), statusPath.Child("desiredHealthy"))...)
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(s.ExpectedPods), statusPath.Child("expectedPods"))...)
	return allErrs
}

func validatePDBSpec(spec *policyv1.PodDisruptionBudgetSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if spec.MinAvailable != nil {
		p := fldPath.Child("minAvailable")
		allErrs = append(allErrs, apps.ValidatePositiveIntOrPercent(*spec.MinAvailable, p)...)
		allErrs = append(allErrs, apps.IsNotMoreThan100Percent(*spec.MinAvailable, p)...)
	}
	if spec.MaxUnavailable != nil {
		p := fldPath.Child("maxUnavailable")
		allErrs = append(allErrs, apps.ValidatePositiveIntOrPercent(*spec.MaxUnavailable, p)...)
		allErrs = append(allErrs, apps.IsNotMoreThan100Percent(*spec.MaxUnavailable, p)...)
	}
	allErrs = append(allErrs, metavalidation.ValidateLabelSelector(spec.Selector, metavalidation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	if p := spec.UnhealthyPodEvictionPolicy; p != nil {
		switch *p {
		case policyv1.IfHealthyBudget, policyv1.AlwaysAllow:
		default:
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("unhealthyPodEvictionPolicy"), *p,
				[]policyv1.UnhealthyPodEvictionPolicyType{policyv1.AlwaysAllow, policyv1.IfHealthyBudget}))
		}
	}
	return allErrs
}
