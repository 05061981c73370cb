package core

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	standardQuotaScopes = sets.New(
		corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
		corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort,
		corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity,
		corev1.ResourceQuotaScopeVolumeAttributesClass)
	podComputeQuotaResources = sets.New[corev1.ResourceName](
		corev1.ResourcePods, corev1.ResourceCPU, corev1.ResourceMemory,
		corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory)
	pvcQuotaResources = sets.New[corev1.ResourceName](corev1.ResourcePersistentVolumeClaims, corev1.ResourceRequestsStorage)
)

// scopeAppliesTo reports whether a quota scope can restrict usage of a standard quota resource:
// pod scopes only count pods and their compute resources, the class scope only claims.
func scopeAppliesTo(scope corev1.ResourceQuotaScope, name corev1.ResourceName) bool {
	switch scope {
	case corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeNotBestEffort,
		corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return podComputeQuotaResources.Has(name)
	case corev1.ResourceQuotaScopeBestEffort:
		return name == corev1.ResourcePods
	case corev1.ResourceQuotaScopeVolumeAttributesClass:
		return pvcQuotaResources.Has(name)
	}
	return true
}

// conflictingScopes are scope pairs that no object can match at once.
var conflictingScopes = [][2]corev1.ResourceQuotaScope{
	{corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort},
	{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating},
}

// ValidateResourceQuota validates a ResourceQuota on create.
func ValidateResourceQuota(q *corev1.ResourceQuota) field.ErrorList {
	allErrs := validateObjectMeta(&q.ObjectMeta, true, nameIsDNSSubdomain, field.NewPath("metadata"))
	allErrs = append(allErrs, validateResourceQuotaSpec(&q.Spec, field.NewPath("spec"))...)
	allErrs = append(allErrs, validateQuotaResourceList(q.Status.Hard, field.NewPath("status", "hard"))...)
	return append(allErrs, validateQuotaResourceList(q.Status.Used, field.NewPath("status", "used"))...)
}

func validateQuotaResourceList(list corev1.ResourceList, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, name := range sortedResourceNames(list) {
		p := fldPath.Key(string(name))
		allErrs = append(allErrs, validateResourceQuotaResourceName(name, p)...)
		allErrs = append(allErrs, validateResourceQuantityValue(name, list[name], p)...)
	}
	return allErrs
}

func validateResourceQuotaSpec(spec *corev1.ResourceQuotaSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateQuotaResourceList(spec.Hard, fldPath.Child("hard"))
	hard := sortedResourceNames(spec.Hard)

	scopesPath := fldPath.Child("scopes")
	scopeSet := sets.New[corev1.ResourceQuotaScope]()
	for _, scope := range spec.Scopes {
		if !standardQuotaScopes.Has(scope) {
			allErrs = append(allErrs, field.Invalid(scopesPath, spec.Scopes, "unsupported scope"))
		}
		for _, name := range hard {
			if isStandardQuotaResourceName(name) && !scopeAppliesTo(scope, name) {
				allErrs = append(allErrs, field.Invalid(scopesPath, spec.Scopes, "unsupported scope applied to resource"))
			}
		}
		scopeSet.Insert(scope)
	}
	for _, pair := range conflictingScopes {
		if scopeSet.Has(pair[0]) && scopeSet.Has(pair[1]) {
			allErrs = append(allErrs, field.Invalid(scopesPath, spec.Scopes, "conflicting scopes"))
		}
	}

	if spec.ScopeSelector == nil {
		return allErrs
	}
	exprPath := fldPath.Child("scopeSelector", "matchExpressions")
	selectorScopes := sets.New[corev1.ResourceQuotaScope]()
	for _, req := range spec.ScopeSelector.MatchExpressions {
		if !standardQuotaScopes.Has(req.ScopeName) {
			allErrs = append(allErrs, field.Invalid(exprPath.Child("scopeName"), req.ScopeName, "unsupported scope"))
		}
		for _, name := range hard {
			if isStandardQuotaResourceName(name) && !scopeAppliesTo(req.ScopeName, name) {
				allErrs = append(allErrs, field.Invalid(exprPath, spec.ScopeSelector, "unsupported scope applied to resource"))
			}
		}
		switch req.ScopeName {
		case corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopeTerminating,
			corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
			// These scopes carry no values to match against.
			if req.Operator != corev1.ScopeSelectorOpExists {
				allErrs = append(allErrs, field.Invalid(exprPath.Child("operator"), req.Operator,
					"must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"))
			}
		}
		switch req.Operator {
		case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
			if len(req.Values) == 0 {
				allErrs = append(allErrs, field.Required(exprPath.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
			}
		case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
			if len(req.Values) != 0 {
				allErrs = append(allErrs, field.Invalid(exprPath.Child("values"), req.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
			}
		default:
			allErrs = append(allErrs, field.Invalid(exprPath.Child("operator"), req.Operator, "not a valid selector operator"))
		}
		selectorScopes.Insert(req.ScopeName)
	}
	for _, pair := range conflictingScopes {
		if selectorScopes.Has(pair[0]) && selectorScopes.Has(pair[1]) {
			allErrs = append(allErrs, field.Invalid(exprPath, spec.Scopes, "conflicting scopes"))
		}
	}
	return allErrs
}

// ValidateResourceQuotaUpdate validates an update of a ResourceQuota; its scopes are fixed because
// usage already counted under them would otherwise be wrong.
func ValidateResourceQuotaUpdate(q, old *corev1.ResourceQuota) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&q.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateResourceQuotaSpec(&q.Spec, field.NewPath("spec"))...)
	oldScopes := sets.New[corev1.ResourceQuotaScope](old.Spec.Scopes...)
	newScopes := sets.New[corev1.ResourceQuotaScope](q.Spec.Scopes...)
	if !oldScopes.Equal(newScopes) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "scopes"), q.Spec.Scopes, fieldImmutableErrorMsg))
	}
	return allErrs
}

// ValidateResourceQuotaStatusUpdate validates a write to resourcequotas/status by the quota controller.
func ValidateResourceQuotaStatusUpdate(q, old *corev1.ResourceQuota) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&q.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	if q.ResourceVersion == "" {
		allErrs = append(allErrs, field.Required(field.NewPath("resourceVersion"), ""))
	}
	allErrs = append(allErrs, validateQuotaResourceList(q.Status.Hard, field.NewPath("status", "hard"))...)
	return append(allErrs, validateQuotaResourceList(q.Status.Used, field.NewPath("status", "used"))...)
}

var standardLimitTypes = sets.New(corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim)

func validateLimitRangeType(t corev1.LimitType, fldPath *field.Path) field.ErrorList {
	if errs := validateQualifiedName(string(t), fldPath); len(errs) != 0 {
		return errs
	}
	if !strings.Contains(string(t), "/") && !standardLimitTypes.Has(t) {
		return field.ErrorList{field.Invalid(fldPath, t, "must be a standard limit type or fully qualified")}
	}
	return nil
}

// validateLimitRangeResourceName: pod and container limits take container resources; other types
// (claims) take any resource, storage included.
func validateLimitRangeResourceName(t corev1.LimitType, name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	if t == corev1.LimitTypePod || t == corev1.LimitTypeContainer {
		return validateContainerResourceName(name, fldPath)
	}
	return validateResourceName(name, fldPath)
}

// ValidateLimitRange validates a LimitRange: one item per type, and for every resource
// min <= defaultRequest <= default <= max with maxLimitRequestRatio >= 1.
func ValidateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	allErrs := validateObjectMeta(&lr.ObjectMeta, true, nameIsDNSSubdomain, field.NewPath("metadata"))
	types := sets.New[corev1.LimitType]()
	limitsPath := field.NewPath("spec", "limits")
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		p := limitsPath.Index(i)
		allErrs = append(allErrs, validateLimitRangeType(item.Type, p.Child("type"))...)
		if types.Has(item.Type) {
			allErrs = append(allErrs, field.Duplicate(p.Child("type"), item.Type))
		}
		types.Insert(item.Type)

		keys := sets.New[string]()
		collect := func(list corev1.ResourceList, name string) map[string]resource.Quantity {
			out := map[string]resource.Quantity{}
			for _, r := range sortedResourceNames(list) {
				allErrs = append(allErrs, validateLimitRangeResourceName(item.Type, r, p.Child(name).Key(string(r)))...)
				keys.Insert(string(r))
				out[string(r)] = list[r]
			}
			return out
		}
		maxQ := collect(item.Max, "max")
		minQ := collect(item.Min, "min")
		defQ, defReqQ := map[string]resource.Quantity{}, map[string]resource.Quantity{}
		if item.Type == corev1.LimitTypePod {
			// Pods get no defaults: defaults apply to containers.
			if len(item.Default) > 0 {
				allErrs = append(allErrs, field.Forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(item.DefaultRequest) > 0 {
				allErrs = append(allErrs, field.Forbidden(p.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		} else {
			defQ = collect(item.Default, "default")
			defReqQ = collect(item.DefaultRequest, "defaultRequest")
		}
		if item.Type == corev1.LimitTypePersistentVolumeClaim {
			_, hasMin := item.Min[corev1.ResourceStorage]
			_, hasMax := item.Max[corev1.ResourceStorage]
			if !hasMin && !hasMax {
				allErrs = append(allErrs, field.Required(p.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
			}
		}
		ratioQ := collect(item.MaxLimitRequestRatio, "maxLimitRequestRatio")

		for _, k := range sets.List(keys) {
			minV, hasMin := minQ[k]
			maxV, hasMax := maxQ[k]
			defV, hasDef := defQ[k]
			reqV, hasReq := defReqQ[k]
			ratio, hasRatio := ratioQ[k]
			if hasMin && hasMax && minV.Cmp(maxV) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("min").Key(k), minV, fmt.Sprintf("min value %s is greater than max value %s", minV.String(), maxV.String())))
			}
			if hasReq && hasMin && minV.Cmp(reqV) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("defaultRequest").Key(k), reqV, fmt.Sprintf("min value %s is greater than default request value %s", minV.String(), reqV.String())))
			}
			if hasReq && hasMax && reqV.Cmp(maxV) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("defaultRequest").Key(k), reqV, fmt.Sprintf("default request value %s is greater than max value %s", reqV.String(), maxV.String())))
			}
			if hasReq && hasDef && reqV.Cmp(defV) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("defaultRequest").Key(k), reqV, fmt.Sprintf("default request value %s is greater than default limit value %s", reqV.String(), defV.String())))
			}
			if hasDef && hasMin && minV.Cmp(defV) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("default").Key(k), minV, fmt.Sprintf("min value %s is greater than default value %s", minV.String(), defV.String())))
			}
			if hasDef && hasMax && defV.Cmp(maxV) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("default").Key(k), maxV, fmt.Sprintf("default value %s is greater than max value %s", defV.String(), maxV.String())))
			}
			if hasRatio && ratio.Cmp(*resource.NewQuantity(1, resource.DecimalSI)) < 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("maxLimitRequestRatio").Key(k), ratio, fmt.Sprintf("ratio %s is less than 1", ratio.String())))
			}
			if hasRatio && hasMin && hasMax && minV.Sign() > 0 {
				// The ratio cannot exceed what max and min allow; milli precision where it fits.
				ratioV, minN, maxN := float64(ratio.Value()), minV.Value(), maxV.Value()
				if ratio.Value() < resource.MaxMilliValue && minN < resource.MaxMilliValue && maxN < resource.MaxMilliValue {
					ratioV, minN, maxN = float64(ratio.MilliValue())/1000, minV.MilliValue(), maxV.MilliValue()
				}
				if limit := float64(maxN) / float64(minN); ratioV > limit {
					allErrs = append(allErrs, field.Invalid(p.Child("maxLimitRequestRatio").Key(k), ratio, fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), limit)))
				}
			}
			// Resources that cannot be overcommitted need request == limit.
			if !isOvercommitAllowed(corev1.ResourceName(k)) && hasDef && hasReq && defV.Cmp(reqV) != 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("defaultRequest").Key(k), reqV, fmt.Sprintf("default value %s must equal to defaultRequest value %s in %s", defV.String(), reqV.String(), k)))
			}
		}
	}
	return allErrs
}

// ValidateLimitRangeUpdate validates an update of a LimitRange; the whole spec may change.
func ValidateLimitRangeUpdate(lr, old *corev1.LimitRange) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&lr.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateLimitRange(lr)...)
}
