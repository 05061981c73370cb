package apps

import (
	"bytes"
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateControllerRevision validates a ControllerRevision on create: it must carry data and a
// non-negative revision number.
func ValidateControllerRevision(obj *appsv1.ControllerRevision) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&obj.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if obj.Data.Raw == nil && obj.Data.Object == nil {
		allErrs = append(allErrs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(obj.Revision, field.NewPath("revision"))...)
	return allErrs
}

// ValidateControllerRevisionUpdate validates an update of a ControllerRevision. Its data is a snapshot
// of a past template and may not change; the revision number may (controllers renumber on rollback).
func ValidateControllerRevisionUpdate(obj, old *appsv1.ControllerRevision) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&obj.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, ValidateControllerRevision(obj)...)
	if !rawExtensionEqual(obj.Data, old.Data) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("data"), obj.Data, "field is immutable"))
	}
	return allErrs
}

// rawExtensionEqual compares two RawExtensions by the JSON they hold, so that a client re-sending the
// same data with different spacing or key order is not taken for a change.
func rawExtensionEqual(a, b runtime.RawExtension) bool {
	if a.Object != nil || b.Object != nil {
		return apiequality.Semantic.DeepEqual(a, b)
	}
	if bytes.Equal(a.Raw, b.Raw) {
		return true
	}
	var av, bv any
	if json.Unmarshal(a.Raw, &av) != nil || json.Unmarshal(b.Raw, &bv) != nil {
		return false
	}
	return apiequality.Semantic.DeepEqual(av, bv)
}
