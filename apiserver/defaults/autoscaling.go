package defaults

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// DefaultCPUUtilization is the target CPU utilization, in percent, of an autoscaler that names no metric.
const DefaultCPUUtilization = 80

// HorizontalPodAutoscaler defaults an autoscaler (stored as autoscaling/v2): at least 1 replica, a CPU
// utilization target of 80% when no metric is given, and, when a behavior is given, the scaling rules it
// leaves out.
func HorizontalPodAutoscaler(obj *autoscalingv2.HorizontalPodAutoscaler) {
	spec := &obj.Spec
	if spec.MinReplicas == nil {
		spec.MinReplicas = ptr.To(int32(1))
	}
	if len(spec.Metrics) == 0 {
		spec.Metrics = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{
					Type:               autoscalingv2.UtilizationMetricType,
					AverageUtilization: ptr.To(int32(DefaultCPUUtilization)),
				},
			},
		}}
	}
	if b := spec.Behavior; b != nil {
		b.ScaleUp = withScalingRuleDefaults(b.ScaleUp, defaultScaleUpRules())
		b.ScaleDown = withScalingRuleDefaults(b.ScaleDown, defaultScaleDownRules())
	}
}

// defaultScaleUpRules is the scale-up behavior of autoscalers before behaviors existed: no stabilization,
// and per 15 seconds the larger of 4 pods and doubling.
func defaultScaleUpRules() *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr.To(int32(0)),
		SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

// defaultScaleDownRules allows removing all pods per 15 seconds. The stabilization window stays unset
// because the controller's --horizontal-pod-autoscaler-downscale-stabilization flag supplies it.
func defaultScaleDownRules() *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{
		SelectPolicy: ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

// withScalingRuleDefaults returns def with the fields that rules sets taken from rules.
func withScalingRuleDefaults(rules, def *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if rules == nil {
		return def
	}
	if rules.SelectPolicy != nil {
		def.SelectPolicy = rules.SelectPolicy
	}
	if rules.StabilizationWindowSeconds != nil {
		def.StabilizationWindowSeconds = rules.StabilizationWindowSeconds
	}
	if rules.Policies != nil {
		def.Policies = rules.Policies
	}
	if rules.Tolerance != nil {
		def.Tolerance = rules.Tolerance
	}
	return def
}

// Scale (the body of every scale subresource) has nothing to default.
func Scale(obj *autoscalingv1.Scale) {}
