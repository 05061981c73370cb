package defaults

import (
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/utils/ptr"
)

// PriorityClass defaults the preemption policy to PreemptLowerPriority.
func PriorityClass(obj *schedulingv1.PriorityClass) {
	if obj.PreemptionPolicy == nil {
		obj.PreemptionPolicy = ptr.To(corev1.PreemptLowerPriority)
	}
}
