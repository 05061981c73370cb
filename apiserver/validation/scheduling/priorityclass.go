package scheduling

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	// HighestUserDefinablePriority is the largest value a PriorityClass outside the system- prefix may
	// have; values above it are reserved for system critical pods.
	HighestUserDefinablePriority int32 = 1_000_000_000
	// SystemCriticalPriority is the base of the system priority classes.
	SystemCriticalPriority int32 = 2 * HighestUserDefinablePriority
	// SystemPriorityClassPrefix starts the names reserved for the system priority classes.
	SystemPriorityClassPrefix = "system-"
	// SystemClusterCritical and SystemNodeCritical are the two system priority classes.
	SystemClusterCritical = SystemPriorityClassPrefix + "cluster-critical"
	SystemNodeCritical    = SystemPriorityClassPrefix + "node-critical"
)

// systemPriorityClass is the fixed shape of a system priority class.
type systemPriorityClass struct {
	name          string
	value         int32
	globalDefault bool
}

func systemPriorityClasses() []systemPriorityClass {
	return []systemPriorityClass{
		{name: SystemNodeCritical, value: SystemCriticalPriority + 1000},
		{name: SystemClusterCritical, value: SystemCriticalPriority},
	}
}

// ValidatePriorityClass validates a PriorityClass on create. Names starting with "system-" are
// reserved for the two system classes, with their exact values; other classes may not exceed
// HighestUserDefinablePriority.
func ValidatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&pc.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if strings.HasPrefix(pc.Name, SystemPriorityClassPrefix) {
		if err := checkSystemPriorityClass(pc); err != nil {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("metadata", "name"),
				"priority class names with '"+SystemPriorityClassPrefix+"' prefix are reserved for system use only. error: "+err.Error()))
		}
	} else if pc.Value > HighestUserDefinablePriority {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("maximum allowed value of a user defined priority is %v", HighestUserDefinablePriority)))
	}
	if pc.PreemptionPolicy != nil {
		allErrs = append(allErrs, validatePreemptionPolicy(*pc.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	}
	return allErrs
}

// ValidatePriorityClassUpdate validates an update of a PriorityClass: value and preemptionPolicy are
// immutable, since pods already carry the resolved priority.
func ValidatePriorityClassUpdate(pc, old *schedulingv1.PriorityClass) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMetaUpdate(&pc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	if pc.Value != old.Value {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	allErrs = append(allErrs, apivalidation.ValidateImmutableField(pc.PreemptionPolicy, old.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	return allErrs
}

func checkSystemPriorityClass(pc *schedulingv1.PriorityClass) error {
	for _, spc := range systemPriorityClasses() {
		if spc.name != pc.Name {
			continue
		}
		if spc.value != pc.Value {
			return fmt.Errorf("value of %v PriorityClass must be %v", spc.name, spc.value)
		}
		if spc.globalDefault != pc.GlobalDefault {
			return fmt.Errorf("globalDefault of %v PriorityClass must be %v", spc.name, spc.globalDefault)
		}
		return nil
	}
	return fmt.Errorf("%v is not a known system priority class", pc.Name)
}

func validatePreemptionPolicy(p corev1.PreemptionPolicy, fldPath *field.Path) field.ErrorList {
	switch p {
	case corev1.PreemptLowerPriority, corev1.PreemptNever:
		return nil
	case "":
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return field.ErrorList{field.NotSupported(fldPath, p, []corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever})}
}
