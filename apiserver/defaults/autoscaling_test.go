package defaults

import (
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func TestHorizontalPodAutoscalerDefaults(t *testing.T) {
	cpu80 := []autoscalingv2.MetricSpec{{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{
			Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(80)),
		}},
	}}
	memory := []autoscalingv2.MetricSpec{{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{
			Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("500Mi")),
		}},
	}}
	scaleUp := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr.To(int32(0)),
		SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
	scaleDown := &autoscalingv2.HPAScalingRules{
		SelectPolicy: ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies:     []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
	}
	tests := []struct {
		name string
		in   autoscalingv2.HorizontalPodAutoscalerSpec
		want autoscalingv2.HorizontalPodAutoscalerSpec
	}{
		{
			name: "at least one replica, scaling on 80% CPU, no behavior",
			in:   autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5},
			want: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5, MinReplicas: ptr.To(int32(1)), Metrics: cpu80},
		},
		{
			name: "set replicas and metrics are kept",
			in:   autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5, MinReplicas: ptr.To(int32(2)), Metrics: memory},
			want: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5, MinReplicas: ptr.To(int32(2)), Metrics: memory},
		},
		{
			name: "a behavior gets both directions' rules filled in",
			in: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To(int32(60)), Tolerance: ptr.To(resource.MustParse("50m"))},
			}},
			want: autoscalingv2.HorizontalPodAutoscalerSpec{
				MaxReplicas: 5, MinReplicas: ptr.To(int32(1)), Metrics: cpu80,
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
					ScaleUp: scaleUp,
					ScaleDown: &autoscalingv2.HPAScalingRules{
						StabilizationWindowSeconds: ptr.To(int32(60)),
						SelectPolicy:               scaleDown.SelectPolicy,
						Policies:                   scaleDown.Policies,
						Tolerance:                  ptr.To(resource.MustParse("50m")),
					},
				},
			},
		},
		{
			name: "set behavior rules are kept",
			in: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{
					SelectPolicy: ptr.To(autoscalingv2.DisabledPolicySelect),
					Policies:     []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}},
				},
			}},
			want: autoscalingv2.HorizontalPodAutoscalerSpec{
				MaxReplicas: 5, MinReplicas: ptr.To(int32(1)), Metrics: cpu80,
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
					ScaleUp: &autoscalingv2.HPAScalingRules{
						StabilizationWindowSeconds: ptr.To(int32(0)),
						SelectPolicy:               ptr.To(autoscalingv2.DisabledPolicySelect),
						Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}},
					},
					ScaleDown: scaleDown,
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, HorizontalPodAutoscaler,
				&autoscalingv2.HorizontalPodAutoscaler{Spec: tt.in}, &autoscalingv2.HorizontalPodAutoscaler{Spec: tt.want})
		})
	}
}

func TestScaleIsLeftAsWritten(t *testing.T) {
	scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 3}}
	check(t, Scale, scale.DeepCopy(), scale)
}
