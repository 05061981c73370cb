package core

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateNode validates a Node on create (usually at registration by the node agent).
func ValidateNode(node *corev1.Node) field.ErrorList {
	metaPath := field.NewPath("metadata")
	allErrs := validateObjectMeta(&node.ObjectMeta, false, nameIsDNSSubdomain, metaPath)
	allErrs = append(allErrs, validateNodeAnnotations(node.Annotations, metaPath.Child("annotations"))...)
	allErrs = append(allErrs, validateTaints(node.Spec.Taints, field.NewPath("spec", "taints"))...)
	allErrs = append(allErrs, validateNodeResources(node)...)
	allErrs = append(allErrs, validateNodePodCIDRs(&node.Spec)...)
	return allErrs
}

// validateNodeAnnotations checks the legacy scheduler annotation that carried taints as JSON.
func validateNodeAnnotations(annotations map[string]string, fldPath *field.Path) field.ErrorList {
	v := annotations[corev1.TaintsAnnotationKey]
	if v == "" {
		return nil
	}
	var taints []corev1.Taint
	if err := json.Unmarshal([]byte(v), &taints); err != nil {
		return field.ErrorList{field.Invalid(fldPath, corev1.TaintsAnnotationKey, err.Error())}
	}
	return validateTaints(taints, fldPath.Child(corev1.TaintsAnnotationKey))
}

func validateNodeResources(node *corev1.Node) field.ErrorList {
	var allErrs field.ErrorList
	for _, list := range []struct {
		name string
		rl   corev1.ResourceList
	}{{"capacity", node.Status.Capacity}, {"allocatable", node.Status.Allocatable}} {
		for _, name := range sortedResourceNames(list.rl) {
			allErrs = append(allErrs, validateResourceQuantityValue(name, list.rl[name], field.NewPath("status", list.name, string(name)))...)
		}
	}
	return allErrs
}

// validateNodePodCIDRs checks podCIDR and podCIDRs: valid subnets, at most one per family, and
// podCIDR mirroring the first entry of podCIDRs.
func validateNodePodCIDRs(spec *corev1.NodeSpec) field.ErrorList {
	var allErrs field.ErrorList
	cidrsPath := field.NewPath("spec", "podCIDRs")
	if spec.PodCIDR != "" {
		allErrs = append(allErrs, validateCIDR(spec.PodCIDR, field.NewPath("spec", "podCIDR"))...)
		if len(spec.PodCIDRs) > 0 && spec.PodCIDRs[0] != spec.PodCIDR {
			allErrs = append(allErrs, field.Invalid(cidrsPath, spec.PodCIDRs, "first value must match `podCIDR`"))
		}
	}
	valid := true
	for i, c := range spec.PodCIDRs {
		if errs := validateCIDR(c, cidrsPath.Index(i)); len(errs) != 0 {
			allErrs = append(allErrs, errs...)
			valid = false
		}
	}
	if len(spec.PodCIDRs) > 1 {
		if valid && (len(spec.PodCIDRs) > 2 || isIPv6String(spec.PodCIDRs[0]) == isIPv6String(spec.PodCIDRs[1])) {
			allErrs = append(allErrs, field.Invalid(cidrsPath, spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
		}
		seen := sets.New[string]()
		for i, c := range spec.PodCIDRs {
			if seen.Has(c) {
				allErrs = append(allErrs, field.Duplicate(cidrsPath.Index(i), c))
			}
			seen.Insert(c)
		}
	}
	return allErrs
}

// ValidateNodeUpdate validates an update of a Node. Pod CIDRs and the provider ID may be set once
// (by the IPAM controller and cloud provider) but not changed afterwards.
func ValidateNodeUpdate(node, old *corev1.Node) field.ErrorList {
	metaPath := field.NewPath("metadata")
	allErrs := validateObjectMetaUpdate(&node.ObjectMeta, &old.ObjectMeta, metaPath)
	allErrs = append(allErrs, validateNodeAnnotations(node.Annotations, metaPath.Child("annotations"))...)
	allErrs = append(allErrs, validateNodeResources(node)...)
	allErrs = append(allErrs, validateNodePodCIDRs(&node.Spec)...)

	seen := map[corev1.NodeAddress]bool{}
	for i, a := range node.Status.Addresses {
		if seen[a] {
			allErrs = append(allErrs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		seen[a] = true
	}

	const cidrMsg = "node updates may not change podCIDR except from \"\" to valid"
	if len(old.Spec.PodCIDRs) > 0 {
		changed := len(old.Spec.PodCIDRs) != len(node.Spec.PodCIDRs)
		for i := 0; !changed && i < len(old.Spec.PodCIDRs); i++ {
			changed = old.Spec.PodCIDRs[i] != node.Spec.PodCIDRs[i]
		}
		if changed {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "podCIDRs"), cidrMsg))
		}
	} else if old.Spec.PodCIDR != "" && old.Spec.PodCIDR != node.Spec.PodCIDR {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "podCIDR"), cidrMsg))
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != node.Spec.ProviderID {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	allErrs = append(allErrs, validateTaints(node.Spec.Taints, field.NewPath("spec", "taints"))...)
	if node.Spec.DoNotUseExternalID != old.Spec.DoNotUseExternalID {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "externalID"), "may not be updated"))
	}
	return allErrs
}

// ValidateNodeStatusUpdate validates a write to nodes/status; the same rules as an update apply.
func ValidateNodeStatusUpdate(node, old *corev1.Node) field.ErrorList {
	return ValidateNodeUpdate(node, old)
}
