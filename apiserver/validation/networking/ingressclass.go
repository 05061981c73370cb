package networking

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxIngressClassControllerLength bounds spec.controller.
const maxIngressClassControllerLength = 250

// ValidateIngressClass validates an IngressClass on create.
func ValidateIngressClass(ic *networkingv1.IngressClass) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&ic.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	allErrs = append(allErrs, validateIngressClassSpec(&ic.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidateIngressClassUpdate validates an update of an IngressClass. The controller is immutable:
// Ingresses of the class would silently move to another implementation.
func ValidateIngressClassUpdate(ic, old *networkingv1.IngressClass) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&ic.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, apivalidation.ValidateImmutableField(ic.Spec.Controller, old.Spec.Controller, field.NewPath("spec", "controller"))...)
	allErrs = append(allErrs, validateIngressClassSpec(&ic.Spec, field.NewPath("spec"))...)
	return allErrs
}

func validateIngressClassSpec(spec *networkingv1.IngressClassSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	controllerPath := fldPath.Child("controller")
	if len(spec.Controller) > maxIngressClassControllerLength {
		allErrs = append(allErrs, field.TooLong(controllerPath, spec.Controller, maxIngressClassControllerLength))
	}
	// Required when empty; otherwise a domain-prefixed path such as example.com/ingress-controller.
	allErrs = append(allErrs, utilvalidation.IsDomainPrefixedPath(controllerPath, spec.Controller)...)
	if p := spec.Parameters; p != nil {
		allErrs = append(allErrs, validateIngressClassParameters(p, fldPath.Child("parameters"))...)
	}
	return allErrs
}

func validateIngressClassParameters(p *networkingv1.IngressClassParametersReference, fldPath *field.Path) field.ErrorList {
	allErrs := validateTypedLocalObjectReference(&corev1.TypedLocalObjectReference{APIGroup: p.APIGroup, Kind: p.Kind, Name: p.Name}, fldPath)
	scopePath := fldPath.Child("scope")
	if p.Scope == nil {
		return append(allErrs, field.Required(scopePath, ""))
	}
	namespacePath := fldPath.Child("namespace")
	switch *p.Scope {
	case networkingv1.IngressClassParametersReferenceScopeNamespace:
		if p.Namespace == nil {
			allErrs = append(allErrs, field.Required(namespacePath, "`parameters.scope` is set to 'Namespace'"))
		} else {
			for _, msg := range apivalidation.ValidateNamespaceName(*p.Namespace, false) {
				allErrs = append(allErrs, field.Invalid(namespacePath, *p.Namespace, msg))
			}
		}
	case networkingv1.IngressClassParametersReferenceScopeCluster:
		if p.Namespace != nil {
			allErrs = append(allErrs, field.Forbidden(namespacePath, "`parameters.scope` is set to 'Cluster'"))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(scopePath, *p.Scope, []string{
			networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace}))
	}
	return allErrs
}
