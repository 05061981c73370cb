package storage

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	// maxParametersSize bounds the total size of provisioner parameters (keys and values).
	maxParametersSize = 256 * (1 << 10)
	// maxParametersCount bounds the number of provisioner parameters.
	maxParametersCount = 512
)

// ValidateStorageClass validates a StorageClass on create, after defaulting has set reclaimPolicy and
// volumeBindingMode.
func ValidateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&sc.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	allErrs = append(allErrs, validateProvisioner(sc.Provisioner, field.NewPath("provisioner"))...)
	allErrs = append(allErrs, validateParameters(sc.Parameters, field.NewPath("parameters"))...)
	allErrs = append(allErrs, validateReclaimPolicy(sc.ReclaimPolicy, field.NewPath("reclaimPolicy"))...)
	allErrs = append(allErrs, validateVolumeBindingMode(sc.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
	allErrs = append(allErrs, validateAllowedTopologies(sc.AllowedTopologies, field.NewPath("allowedTopologies"))...)
	return allErrs
}

// ValidateStorageClassUpdate validates an update of a StorageClass. What a class provisions (its
// provisioner, parameters, reclaim policy and binding mode) is fixed, since existing volumes were made
// under it; mount options, expansion and labels may change.
func ValidateStorageClassUpdate(sc, old *storagev1.StorageClass) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&sc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	if !apiequality.Semantic.DeepEqual(sc.Parameters, old.Parameters) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	if sc.Provisioner != old.Provisioner {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
	}
	if derefReclaimPolicy(sc.ReclaimPolicy) != derefReclaimPolicy(old.ReclaimPolicy) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
	}
	allErrs = append(allErrs, apivalidation.ValidateImmutableField(sc.VolumeBindingMode, old.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
	return allErrs
}

// derefReclaimPolicy reads an optional reclaim policy; Delete is what defaulting sets when it is unset.
func derefReclaimPolicy(p *corev1.PersistentVolumeReclaimPolicy) corev1.PersistentVolumeReclaimPolicy {
	if p == nil {
		return corev1.PersistentVolumeReclaimDelete
	}
	return *p
}

// validateProvisioner checks that the provisioner is a qualified name such as "rancher.io/local-path";
// upper case is tolerated for provisioners named before the rule existed.
func validateProvisioner(provisioner string, fldPath *field.Path) field.ErrorList {
	if provisioner == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsQualifiedName(strings.ToLower(provisioner)) {
		allErrs = append(allErrs, field.Invalid(fldPath, provisioner, msg))
	}
	return allErrs
}

func validateParameters(params map[string]string, fldPath *field.Path) field.ErrorList {
	if len(params) > maxParametersCount {
		return field.ErrorList{field.TooMany(fldPath, len(params), maxParametersCount)}
	}
	var allErrs field.ErrorList
	total := 0
	for k, v := range params {
		if k == "" {
			allErrs = append(allErrs, field.Invalid(fldPath, k, "field can not be empty."))
		}
		total += len(k) + len(v)
	}
	if total > maxParametersSize {
		allErrs = append(allErrs, field.TooLong(fldPath, "", maxParametersSize))
	}
	return allErrs
}

func validateReclaimPolicy(p *corev1.PersistentVolumeReclaimPolicy, fldPath *field.Path) field.ErrorList {
	// Unset means defaulting did not run; an empty policy is tolerated as upstream does.
	if p == nil || *p == "" {
		return nil
	}
	switch *p {
	case corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain:
		return nil
	}
	return field.ErrorList{field.NotSupported(fldPath, *p, []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain})}
}

func validateVolumeBindingMode(m *storagev1.VolumeBindingMode, fldPath *field.Path) field.ErrorList {
	if m == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	switch *m {
	case storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer:
		return nil
	}
	return field.ErrorList{field.NotSupported(fldPath, *m, []storagev1.VolumeBindingMode{storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer})}
}

// validateAllowedTopologies checks each topology term (label keys, non-empty unique values, no key
// repeated within a term) and that no term is repeated.
func validateAllowedTopologies(terms []corev1.TopologySelectorTerm, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	var seen []map[string]map[string]bool
	for i, term := range terms {
		termPath := fldPath.Index(i)
		exprsPath := termPath.Child("matchLabelExpressions")
		exprs := make(map[string]map[string]bool, len(term.MatchLabelExpressions))
		for j, req := range term.MatchLabelExpressions {
			p := exprsPath.Index(j)
			values := make(map[string]bool, len(req.Values))
			if len(req.Values) == 0 {
				allErrs = append(allErrs, field.Required(p.Child("values"), ""))
			}
			for k, v := range req.Values {
				if values[v] {
					allErrs = append(allErrs, field.Duplicate(p.Child("values").Index(k), v))
				}
				values[v] = true
			}
			allErrs = append(allErrs, metavalidation.ValidateLabelName(req.Key, p.Child("key"))...)
			if _, dup := exprs[req.Key]; dup {
				allErrs = append(allErrs, field.Duplicate(p.Child("key"), req.Key))
			}
			exprs[req.Key] = values
		}
		for _, prev := range seen {
			if apiequality.Semantic.DeepEqual(prev, exprs) {
				allErrs = append(allErrs, field.Duplicate(exprsPath, ""))
			}
		}
		seen = append(seen, exprs)
	}
	return allErrs
}
