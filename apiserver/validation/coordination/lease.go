package coordination

import (
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateLease validates a Lease on create.
func ValidateLease(lease *coordinationv1.Lease) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&lease.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	allErrs = append(allErrs, validateLeaseSpec(&lease.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidateLeaseUpdate validates an update of a Lease; every spec field may change as holders come and
// go.
func ValidateLeaseUpdate(lease, old *coordinationv1.Lease) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&lease.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateLeaseSpec(&lease.Spec, field.NewPath("spec"))...)
	return allErrs
}

func validateLeaseSpec(spec *coordinationv1.LeaseSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if d := spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	if n := spec.LeaseTransitions; n != nil && *n < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseTransitions"), *n, "must be greater than or equal to 0"))
	}
	if spec.Strategy != nil {
		allErrs = append(allErrs, validateStrategy(*spec.Strategy, fldPath.Child("strategy"))...)
	}
	// A preferred holder is a hint for handing over a held lease, so it needs a current holder.
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.HolderIdentity == nil || *spec.HolderIdentity == "") {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("preferredHolder"), "preferredHolder can only be set when holderIdentity is set"))
	}
	return allErrs
}

// validateStrategy accepts the built-in coordinated leader election strategy, or a domain-qualified
// custom one.
func validateStrategy(s coordinationv1.CoordinatedLeaseStrategy, fldPath *field.Path) field.ErrorList {
	if !strings.Contains(string(s), "/") {
		if s != coordinationv1.OldestEmulationVersion {
			return field.ErrorList{field.NotSupported(fldPath, s, []coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion})}
		}
		return nil
	}
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsQualifiedName(string(s)) {
		allErrs = append(allErrs, field.Invalid(fldPath, s, msg))
	}
	return allErrs
}
