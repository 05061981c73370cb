package networking

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	pathvalidation "k8s.io/apimachinery/pkg/api/validation/path"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// ingressClassAnnotation is the deprecated annotation that named an Ingress's class before
// spec.ingressClassName.
const ingressClassAnnotation = "kubernetes.io/ingress.class"

// ingressOptions relaxes checks that older objects may fail, so they stay updatable.
type ingressOptions struct {
	allowInvalidSecretName       bool
	allowInvalidWildcardHostRule bool
}

// ValidateIngress validates an Ingress on create.
func ValidateIngress(ing *networkingv1.Ingress) field.ErrorList {
	allErrs := validateIngress(ing, ingressOptions{})
	if v, ok := ing.Annotations[ingressClassAnnotation]; ok && ing.Spec.IngressClassName != nil && v != *ing.Spec.IngressClassName {
		allErrs = append(allErrs, field.Invalid(field.NewPath("metadata", "annotations").Key(ingressClassAnnotation), v, "must match `ingressClassName` when both are specified"))
	}
	return allErrs
}

// ValidateIngressUpdate validates an update of an Ingress; its whole spec may change. Rules that an
// existing object already breaks (invalid TLS secret names, invalid rules under wildcard hosts) are
// tolerated so it can still be edited.
func ValidateIngressUpdate(ing, old *networkingv1.Ingress) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&ing.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	opts := ingressOptions{
		allowInvalidSecretName:       hasInvalidTLSSecretName(old),
		allowInvalidWildcardHostRule: hasInvalidWildcardHostRule(old),
	}
	allErrs = append(allErrs, validateIngress(ing, opts)...)
	return allErrs
}

// ValidateIngressStatusUpdate validates a write to the status subresource of an Ingress.
func ValidateIngressStatusUpdate(ing, old *networkingv1.Ingress) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&ing.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	lbPath := field.NewPath("status", "loadBalancer", "ingress")
	for i, lb := range ing.Status.LoadBalancer.Ingress {
		p := lbPath.Index(i)
		if lb.IP != "" {
			allErrs = append(allErrs, utilvalidation.IsValidIPForLegacyField(p.Child("ip"), lb.IP, false, nil)...)
		}
		if lb.Hostname != "" {
			for _, msg := range utilvalidation.IsDNS1123Subdomain(lb.Hostname) {
				allErrs = append(allErrs, field.Invalid(p.Child("hostname"), lb.Hostname, msg))
			}
			if netutils.ParseIPSloppy(lb.Hostname) != nil {
				allErrs = append(allErrs, field.Invalid(p.Child("hostname"), lb.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return allErrs
}

func validateIngress(ing *networkingv1.Ingress, opts ingressOptions) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&ing.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	allErrs = append(allErrs, validateIngressSpec(&ing.Spec, field.NewPath("spec"), opts)...)
	return allErrs
}

func validateIngressSpec(spec *networkingv1.IngressSpec, fldPath *field.Path, opts ingressOptions) field.ErrorList {
	var allErrs field.ErrorList
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		allErrs = append(allErrs, field.Invalid(fldPath, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		allErrs = append(allErrs, validateIngressBackend(spec.DefaultBackend, fldPath.Child("defaultBackend"))...)
	}
	rulesPath := fldPath.Child("rules")
	for i := range spec.Rules {
		allErrs = append(allErrs, validateIngressRule(&spec.Rules[i], rulesPath.Index(i), opts)...)
	}
	allErrs = append(allErrs, validateIngressTLS(spec.TLS, fldPath.Child("tls"), opts)...)
	if spec.IngressClassName != nil {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*spec.IngressClassName, false) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("ingressClassName"), *spec.IngressClassName, msg))
		}
	}
	return allErrs
}

// validateHost checks a rule or TLS host: a DNS name, optionally with a leading "*." wildcard label.
// It reports whether the host is a wildcard.
func validateHost(host string, fldPath *field.Path) (field.ErrorList, bool) {
	var allErrs field.ErrorList
	if strings.Contains(host, "*") {
		for _, msg := range utilvalidation.IsWildcardDNS1123Subdomain(host) {
			allErrs = append(allErrs, field.Invalid(fldPath, host, msg))
		}
		return allErrs, true
	}
	for _, msg := range utilvalidation.IsDNS1123Subdomain(host) {
		allErrs = append(allErrs, field.Invalid(fldPath, host, msg))
	}
	return allErrs, false
}

func validateIngressRule(rule *networkingv1.IngressRule, fldPath *field.Path, opts ingressOptions) field.ErrorList {
	var allErrs field.ErrorList
	wildcard := false
	if rule.Host != "" {
		hostPath := fldPath.Child("host")
		if netutils.ParseIPSloppy(rule.Host) != nil {
			allErrs = append(allErrs, field.Invalid(hostPath, rule.Host, "must be a DNS name, not an IP address"))
		}
		var errs field.ErrorList
		errs, wildcard = validateHost(rule.Host, hostPath)
		allErrs = append(allErrs, errs...)
	}
	if !wildcard || !opts.allowInvalidWildcardHostRule {
		allErrs = append(allErrs, validateIngressRuleValue(&rule.IngressRuleValue, fldPath)...)
	}
	return allErrs
}

func validateIngressRuleValue(v *networkingv1.IngressRuleValue, fldPath *field.Path) field.ErrorList {
	if v.HTTP == nil {
		return nil
	}
	var allErrs field.ErrorList
	pathsPath := fldPath.Child("http", "paths")
	if len(v.HTTP.Paths) == 0 {
		allErrs = append(allErrs, field.Required(pathsPath, ""))
	}
	for i := range v.HTTP.Paths {
		allErrs = append(allErrs, validateHTTPIngressPath(&v.HTTP.Paths[i], pathsPath.Index(i))...)
	}
	return allErrs
}

// validateHTTPIngressPath checks a path and its type. Exact and Prefix paths are matched by
// controllers segment by segment, so they must be clean absolute paths.
func validateHTTPIngressPath(p *networkingv1.HTTPIngressPath, fldPath *field.Path) field.ErrorList {
	if p.PathType == nil {
		return field.ErrorList{field.Required(fldPath.Child("pathType"), "pathType must be specified")}
	}
	var allErrs field.ErrorList
	pathPath := fldPath.Child("path")
	switch *p.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(p.Path, "/") {
			allErrs = append(allErrs, field.Invalid(pathPath, p.Path, "must be an absolute path"))
		}
		if p.Path != "" {
			for _, seq := range []string{"//", "/./", "/../", "%2f", "%2F"} {
				if strings.Contains(p.Path, seq) {
					allErrs = append(allErrs, field.Invalid(pathPath, p.Path, fmt.Sprintf("must not contain '%s'", seq)))
				}
			}
			for _, suffix := range []string{"/..", "/."} {
				if strings.HasSuffix(p.Path, suffix) {
					allErrs = append(allErrs, field.Invalid(pathPath, p.Path, fmt.Sprintf("cannot end with '%s'", suffix)))
				}
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if p.Path != "" && !strings.HasPrefix(p.Path, "/") {
			allErrs = append(allErrs, field.Invalid(pathPath, p.Path, "must be an absolute path"))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("pathType"), *p.PathType,
			[]networkingv1.PathType{networkingv1.PathTypeExact, networkingv1.PathTypeImplementationSpecific, networkingv1.PathTypePrefix}))
	}
	allErrs = append(allErrs, validateIngressBackend(&p.Backend, fldPath.Child("backend"))...)
	return allErrs
}

// validateIngressBackend checks that a backend is either a Service port or a resource reference.
func validateIngressBackend(b *networkingv1.IngressBackend, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch {
	case b.Resource != nil && b.Service != nil:
		return field.ErrorList{field.Invalid(fldPath, "", "cannot set both resource and service backends")}
	case b.Resource != nil:
		allErrs = append(allErrs, validateTypedLocalObjectReference(b.Resource, fldPath.Child("resource"))...)
	case b.Service != nil:
		servicePath := fldPath.Child("service")
		if b.Service.Name == "" {
			allErrs = append(allErrs, field.Required(servicePath.Child("name"), ""))
		} else {
			for _, msg := range apivalidation.NameIsDNS1035Label(b.Service.Name, false) {
				allErrs = append(allErrs, field.Invalid(servicePath.Child("name"), b.Service.Name, msg))
			}
		}
		port := b.Service.Port
		switch {
		case port.Name != "" && port.Number != 0:
			allErrs = append(allErrs, field.Invalid(fldPath, "", "cannot set both port name & port number"))
		case port.Name != "":
			for _, msg := range utilvalidation.IsValidPortName(port.Name) {
				allErrs = append(allErrs, field.Invalid(servicePath.Child("port", "name"), port.Name, msg))
			}
		case port.Number != 0:
			for _, msg := range utilvalidation.IsValidPortNum(int(port.Number)) {
				allErrs = append(allErrs, field.Invalid(servicePath.Child("port", "number"), port.Number, msg))
			}
		default:
			allErrs = append(allErrs, field.Required(fldPath, "port name or number is required"))
		}
	default:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "resource or service backend is required"))
	}
	return allErrs
}

func validateTypedLocalObjectReference(ref *corev1.TypedLocalObjectReference, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if ref.APIGroup != nil {
		for _, msg := range utilvalidation.IsDNS1123Subdomain(*ref.APIGroup) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("apiGroup"), *ref.APIGroup, msg))
		}
	}
	for _, f := range []struct{ name, value string }{{"kind", ref.Kind}, {"name", ref.Name}} {
		if f.value == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child(f.name), f.name+" is required"))
			continue
		}
		for _, msg := range pathvalidation.IsValidPathSegmentName(f.value) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child(f.name), f.value, msg))
		}
	}
	return allErrs
}

func validateIngressTLS(tls []networkingv1.IngressTLS, fldPath *field.Path, opts ingressOptions) field.ErrorList {
	var allErrs field.ErrorList
	for i, t := range tls {
		p := fldPath.Index(i)
		for j, host := range t.Hosts {
			errs, _ := validateHost(host, p.Child("hosts").Index(j))
			allErrs = append(allErrs, errs...)
		}
		if !opts.allowInvalidSecretName {
			for _, msg := range tlsSecretNameErrors(t.SecretName) {
				allErrs = append(allErrs, field.Invalid(p.Child("secretName"), t.SecretName, msg))
			}
		}
	}
	return allErrs
}

// tlsSecretNameErrors checks an optional TLS secret name (empty means the controller's default).
func tlsSecretNameErrors(name string) []string {
	if name == "" {
		return nil
	}
	return apivalidation.NameIsDNSSubdomain(name, false)
}

func hasInvalidTLSSecretName(ing *networkingv1.Ingress) bool {
	for _, t := range ing.Spec.TLS {
		if len(tlsSecretNameErrors(t.SecretName)) > 0 {
			return true
		}
	}
	return false
}

func hasInvalidWildcardHostRule(ing *networkingv1.Ingress) bool {
	for i := range ing.Spec.Rules {
		r := &ing.Spec.Rules[i]
		if strings.Contains(r.Host, "*") && len(validateIngressRuleValue(&r.IngressRuleValue, field.NewPath("spec"))) > 0 {
			return true
		}
	}
	return false
}
