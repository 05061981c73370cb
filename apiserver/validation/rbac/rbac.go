package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	pathvalidation "k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateRBACName is the minimal name rule for roles and bindings: anything usable as a path
// segment, so names like "system:controller:foo" work.
func validateRBACName(name string, prefix bool) []string {
	return pathvalidation.ValidatePathSegmentName(name, prefix)
}

// ValidateRole validates a Role on create.
func ValidateRole(role *rbacv1.Role) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&role.ObjectMeta, true, validateRBACName, field.NewPath("metadata"))
	allErrs = append(allErrs, validateRules(role.Rules, true)...)
	return allErrs
}

// ValidateRoleUpdate validates an update of a Role.
func ValidateRoleUpdate(role, old *rbacv1.Role) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&role.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateRules(role.Rules, true)...)
	return allErrs
}

// ValidateClusterRole validates a ClusterRole on create.
func ValidateClusterRole(role *rbacv1.ClusterRole) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&role.ObjectMeta, false, validateRBACName, field.NewPath("metadata"))
	allErrs = append(allErrs, validateClusterRoleBody(role)...)
	return allErrs
}

// ValidateClusterRoleUpdate validates an update of a ClusterRole.
func ValidateClusterRoleUpdate(role, old *rbacv1.ClusterRole) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&role.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateClusterRoleBody(role)...)
	return allErrs
}

func validateClusterRoleBody(role *rbacv1.ClusterRole) field.ErrorList {
	allErrs := validateRules(role.Rules, false)
	if role.AggregationRule == nil {
		return allErrs
	}
	selectorsPath := field.NewPath("aggregationRule", "clusterRoleSelectors")
	if len(role.AggregationRule.ClusterRoleSelectors) == 0 {
		allErrs = append(allErrs, field.Required(selectorsPath, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
	}
	for i := range role.AggregationRule.ClusterRoleSelectors {
		sel := &role.AggregationRule.ClusterRoleSelectors[i]
		p := selectorsPath.Index(i)
		allErrs = append(allErrs, metavalidation.ValidateLabelSelector(sel, metavalidation.LabelSelectorValidationOptions{}, p)...)
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			allErrs = append(allErrs, field.Invalid(p, sel, "invalid label selector."))
		}
	}
	return allErrs
}

func validateRules(rules []rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var allErrs field.ErrorList
	for i := range rules {
		allErrs = append(allErrs, validatePolicyRule(&rules[i], namespaced, field.NewPath("rules").Index(i))...)
	}
	return allErrs
}

// validatePolicyRule checks that a rule grants verbs either on resources (with API groups) or on
// non-resource URLs, never both; namespaced roles cannot grant non-resource URLs.
func validatePolicyRule(rule *rbacv1.PolicyRule, namespaced bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(rule.Verbs) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("verbs"), "verbs must contain at least one value"))
	}
	if len(rule.NonResourceURLs) > 0 {
		urlsPath := fldPath.Child("nonResourceURLs")
		if namespaced {
			allErrs = append(allErrs, field.Invalid(urlsPath, rule.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
		}
		if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
			allErrs = append(allErrs, field.Invalid(urlsPath, rule.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
		}
		return allErrs
	}
	if len(rule.APIGroups) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("apiGroups"), "resource rules must supply at least one api group"))
	}
	if len(rule.Resources) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("resources"), "resource rules must supply at least one resource"))
	}
	return allErrs
}

// ValidateRoleBinding validates a RoleBinding on create; it may refer to a Role or a ClusterRole.
func ValidateRoleBinding(rb *rbacv1.RoleBinding) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&rb.ObjectMeta, true, validateRBACName, field.NewPath("metadata"))
	allErrs = append(allErrs, validateRoleRef(&rb.RoleRef, []string{"Role", "ClusterRole"})...)
	allErrs = append(allErrs, validateSubjects(rb.Subjects, true)...)
	return allErrs
}

// ValidateRoleBindingUpdate validates an update of a RoleBinding. roleRef is immutable: changing the
// granted role in place would bypass the escalation check made when the binding was created.
func ValidateRoleBindingUpdate(rb, old *rbacv1.RoleBinding) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&rb.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateRoleRef(&rb.RoleRef, []string{"Role", "ClusterRole"})...)
	allErrs = append(allErrs, validateSubjects(rb.Subjects, true)...)
	allErrs = append(allErrs, validateRoleRefUnchanged(rb.RoleRef, old.RoleRef)...)
	return allErrs
}

// ValidateClusterRoleBinding validates a ClusterRoleBinding on create; it may refer only to a
// ClusterRole, and ServiceAccount subjects must name their namespace.
func ValidateClusterRoleBinding(crb *rbacv1.ClusterRoleBinding) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&crb.ObjectMeta, false, validateRBACName, field.NewPath("metadata"))
	allErrs = append(allErrs, validateRoleRef(&crb.RoleRef, []string{"ClusterRole"})...)
	allErrs = append(allErrs, validateSubjects(crb.Subjects, false)...)
	return allErrs
}

// ValidateClusterRoleBindingUpdate validates an update of a ClusterRoleBinding; roleRef is immutable.
func ValidateClusterRoleBindingUpdate(crb, old *rbacv1.ClusterRoleBinding) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&crb.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateRoleRef(&crb.RoleRef, []string{"ClusterRole"})...)
	allErrs = append(allErrs, validateSubjects(crb.Subjects, false)...)
	allErrs = append(allErrs, validateRoleRefUnchanged(crb.RoleRef, old.RoleRef)...)
	return allErrs
}

func validateRoleRefUnchanged(ref, old rbacv1.RoleRef) field.ErrorList {
	if ref == old {
		return nil
	}
	return field.ErrorList{field.Invalid(field.NewPath("roleRef"), ref, "cannot change roleRef")}
}

func validateRoleRef(ref *rbacv1.RoleRef, kinds []string) field.ErrorList {
	var allErrs field.ErrorList
	refPath := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		allErrs = append(allErrs, field.NotSupported(refPath.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	kindOK := false
	for _, k := range kinds {
		kindOK = kindOK || ref.Kind == k
	}
	if !kindOK {
		allErrs = append(allErrs, field.NotSupported(refPath.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		allErrs = append(allErrs, field.Required(refPath.Child("name"), ""))
	} else {
		for _, msg := range validateRBACName(ref.Name, false) {
			allErrs = append(allErrs, field.Invalid(refPath.Child("name"), ref.Name, msg))
		}
	}
	return allErrs
}

func validateSubjects(subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var allErrs field.ErrorList
	for i := range subjects {
		allErrs = append(allErrs, validateSubject(&subjects[i], namespaced, field.NewPath("subjects").Index(i))...)
	}
	return allErrs
}

// validateSubject checks a subject by kind. ServiceAccounts live in the core group and, in cluster
// bindings, must say which namespace they are in; Users and Groups belong to the RBAC group.
func validateSubject(s *rbacv1.Subject, namespaced bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if s.Name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	}
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if s.Name != "" {
			for _, msg := range apivalidation.ValidateServiceAccountName(s.Name, false) {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("name"), s.Name, msg))
			}
		}
		if s.APIGroup != "" {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		if !namespaced && s.Namespace == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if s.APIGroup != rbacv1.GroupName {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return allErrs
}
