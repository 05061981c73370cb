package apps

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/apiserver/validation/core"
)

// validateWorkloadSelector checks a controller's selector: it must be set, well formed and non-empty,
// because an empty selector would adopt every pod in the namespace. kind names the object in messages.
// It returns the parsed selector, or nil when it cannot be parsed.
func validateWorkloadSelector(sel *metav1.LabelSelector, kind string, fldPath *field.Path) (labels.Selector, field.ErrorList) {
	var allErrs field.ErrorList
	if sel == nil {
		allErrs = append(allErrs, field.Required(fldPath, ""))
	} else {
		allErrs = append(allErrs, metavalidation.ValidateLabelSelector(sel, metavalidation.LabelSelectorValidationOptions{}, fldPath)...)
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			allErrs = append(allErrs, field.Invalid(fldPath, sel, "empty selector is invalid for "+kind))
		}
	}
	// A nil selector converts to one that matches nothing, so a missing selector also reports the
	// template labels as unmatched, as upstream does.
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, sel, "invalid label selector"))
		return nil, allErrs
	}
	return selector, allErrs
}

// validateTemplateMatchesSelector reports template labels that the controller's selector would not
// select: the controller could never see the pods it creates.
func validateTemplateMatchesSelector(selector labels.Selector, template *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	if selector == nil || selector.Empty() || selector.Matches(labels.Set(template.Labels)) {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath.Child("metadata", "labels"), template.Labels, "`selector` does not match template `labels`")}
}

// validateLongRunningPodTemplate adds the rules every controller of long-running pods shares: the pod
// template itself (core validation), restartPolicy Always, and no activeDeadlineSeconds, which would
// make the controller fight the kubelet over pods it keeps recreating. kind names the object in messages.
func validateLongRunningPodTemplate(template *corev1.PodTemplateSpec, kind string, fldPath *field.Path) field.ErrorList {
	allErrs := core.ValidatePodTemplateSpec(template, fldPath)
	allErrs = append(allErrs, validateLongRunningPodSpec(&template.Spec, kind, fldPath.Child("spec"))...)
	return allErrs
}

func validateLongRunningPodSpec(spec *corev1.PodSpec, kind string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.RestartPolicy != corev1.RestartPolicyAlways {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("restartPolicy"), spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return allErrs
}

// isDecremented reports whether a counter that may only grow went down (or was cleared).
func isDecremented(update, old *int32) bool {
	if old == nil {
		return false
	}
	if update == nil {
		return true
	}
	return *update < *old
}

// validateCollisionCount rejects a status update that lowers status.collisionCount: controllers use it
// to pick fresh hashes, and going back would reuse names.
func validateCollisionCount(update, old *int32, fldPath *field.Path) field.ErrorList {
	if !isDecremented(update, old) {
		return nil
	}
	var value int32
	if update != nil {
		value = *update
	}
	return field.ErrorList{field.Invalid(fldPath, value, "cannot be decremented")}
}

func derefInt32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// namedCount is a status counter and its field name, kept in a slice so errors come out in a stable order.
type namedCount struct {
	name  string
	value int32
}

func validateNonnegativeCounts(fldPath *field.Path, counts []namedCount) field.ErrorList {
	var allErrs field.ErrorList
	for _, c := range counts {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(c.value), fldPath.Child(c.name))...)
	}
	return allErrs
}

// validateNotAboveReplicas rejects counters of subsets of status.replicas that exceed it.
func validateNotAboveReplicas(replicas int32, fldPath *field.Path, counts []namedCount) field.ErrorList {
	var allErrs field.ErrorList
	for _, c := range counts {
		if c.value > replicas {
			allErrs = append(allErrs, field.Invalid(fldPath.Child(c.name), c.value, "cannot be greater than status.replicas"))
		}
	}
	return allErrs
}
