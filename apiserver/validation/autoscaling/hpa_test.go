package autoscaling

import (
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var matcher = field.ErrorMatcher{}.ByType().ByField().ByDetailSubstring()

func path(p string, more ...string) *field.Path { return field.NewPath(p, more...) }

func cpuMetric() autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)},
		},
	}
}

func scalingRules() *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr.To[int32](300),
		SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
	}
}

func validHPA() *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
			MinReplicas:    ptr.To[int32](1),
			MaxReplicas:    10,
			Metrics:        []autoscalingv2.MetricSpec{cpuMetric()},
			Behavior:       &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: scalingRules(), ScaleDown: scalingRules()},
		},
	}
}

func TestValidateHorizontalPodAutoscaler(t *testing.T) {
	metric := path("spec", "metrics").Index(0)
	scaleUp := path("spec", "behavior", "scaleUp")
	cases := []struct {
		name   string
		mutate func(*autoscalingv2.HorizontalPodAutoscaler)
		want   field.ErrorList
	}{
		{"valid autoscaler passes", func(*autoscalingv2.HorizontalPodAutoscaler) {}, nil},
		{"every metric source kind passes", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			q := resource.MustParse("100")
			h.Spec.Metrics = append(h.Spec.Metrics,
				autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "requests_per_second"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q},
				}},
				autoscalingv2.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
					DescribedObject: autoscalingv2.CrossVersionObjectReference{Kind: "Ingress", Name: "main"},
					Metric:          autoscalingv2.MetricIdentifier{Name: "hits"},
					Target:          autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: &q},
				}},
				autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "queue_depth"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q},
				}},
				autoscalingv2.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
					Name: corev1.ResourceMemory, Container: "app",
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q},
				}},
			)
		}, nil},
		{"scale target kind and name are required", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{}
		}, field.ErrorList{
			field.Required(path("spec", "scaleTargetRef", "kind"), ""),
			field.Required(path("spec", "scaleTargetRef", "name"), ""),
		}},
		{"scale target name must be a path segment", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.ScaleTargetRef.Name = "a/b"
		}, field.ErrorList{
			field.Invalid(path("spec", "scaleTargetRef", "name"), nil, "may not contain '/'"),
		}},
		{"minReplicas must be at least 1", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.MinReplicas = ptr.To[int32](0)
			h.Spec.Metrics = []autoscalingv2.MetricSpec{cpuMetric()}
		}, field.ErrorList{
			field.Invalid(path("spec", "minReplicas"), nil, "must be greater than or equal to 1"),
			field.Forbidden(path("spec", "metrics"), "must specify at least one Object or External metric"),
		}},
		{"maxReplicas must be positive", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.MaxReplicas = 0
			h.Spec.MinReplicas = nil
		}, field.ErrorList{
			field.Invalid(path("spec", "maxReplicas"), nil, "must be greater than 0"),
		}},
		{"maxReplicas may not be below minReplicas", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr.To[int32](11) }, field.ErrorList{
			field.Invalid(path("spec", "maxReplicas"), nil, "must be greater than or equal to `minReplicas`"),
		}},
		{"metric type is required", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.Metrics[0].Type = "" }, field.ErrorList{
			field.Required(metric.Child("type"), "must specify a metric source type"),
		}},
		{"unknown metric type is not supported", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.Metrics[0].Type = "Custom" }, field.ErrorList{
			field.NotSupported(metric.Child("type"), "Custom", []string{"ContainerResource", "External", "Object", "Pods", "Resource"}),
		}},
		{"the source named by type must be set", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Type = autoscalingv2.PodsMetricSourceType
		}, field.ErrorList{
			field.Required(metric.Child("pods"), "must populate information for the given metric source"),
		}},
		{"only one source may be set", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Pods = &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "x"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("1"))},
			}
		}, field.ErrorList{
			field.Forbidden(metric.Child("pods"), "must populate the given metric source only"),
		}},
		{"resource target needs utilization or value, not both", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.AverageValue = ptr.To(resource.MustParse("500m"))
		}, field.ErrorList{
			field.Forbidden(metric.Child("resource", "target", "averageValue"), "may not set both"),
		}},
		{"resource target must have a utilization or value", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.AverageUtilization = nil
		}, field.ErrorList{
			field.Required(metric.Child("resource", "target", "averageUtilization"), ""),
		}},
		{"resource name is required", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.Metrics[0].Resource.Name = "" }, field.ErrorList{
			field.Required(metric.Child("resource", "name"), "must specify a resource name"),
		}},
		{"metric target values are checked", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target = autoscalingv2.MetricTarget{Type: "Percent", AverageUtilization: ptr.To[int32](0)}
		}, field.ErrorList{
			field.Invalid(metric.Child("resource", "target", "type"), nil, "must be either Utilization, Value, or AverageValue"),
			field.Invalid(metric.Child("resource", "target", "averageUtilization"), nil, "must be greater than 0"),
		}},
		{"pods metric needs a positive averageValue and a name", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0] = autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: ptr.To(resource.MustParse("-1"))},
			}}
		}, field.ErrorList{
			field.Required(metric.Child("pods", "metric", "name"), "must specify a metric name"),
			field.Invalid(metric.Child("pods", "target", "value"), nil, "must be positive"),
			field.Required(metric.Child("pods", "target", "averageValue"), ""),
		}},
		{"external metric may not set value and averageValue", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			q := resource.MustParse("3")
			h.Spec.Metrics[0] = autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "queue"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: &q, AverageValue: &q},
			}}
		}, field.ErrorList{
			field.Forbidden(metric.Child("external", "target", "value"), "may not set both"),
		}},
		{"object metric needs a described object and a target", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0] = autoscalingv2.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "hits"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType},
			}}
		}, field.ErrorList{
			field.Required(metric.Child("object", "describedObject", "kind"), ""),
			field.Required(metric.Child("object", "describedObject", "name"), ""),
			field.Required(metric.Child("object", "target", "averageValue"), "must set either a target value or averageValue"),
		}},
		{"container resource needs a standard resource and a container", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0] = autoscalingv2.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
				Name:   "pods",
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)},
			}}
		}, field.ErrorList{
			field.Invalid(metric.Child("containerResource", "name"), nil, "must be a standard resource for containers"),
			field.Required(metric.Child("containerResource", "container"), "must specify a container"),
		}},
		{"scaling rules are checked", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior.ScaleUp = &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: ptr.To[int32](3601),
				SelectPolicy:               ptr.To[autoscalingv2.ScalingPolicySelect]("Avg"),
				Tolerance:                  ptr.To(resource.MustParse("-0.1")),
				Policies: []autoscalingv2.HPAScalingPolicy{
					{Type: "Nodes", Value: 0, PeriodSeconds: 1801},
					{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 0},
				},
			}
		}, field.ErrorList{
			field.Invalid(scaleUp.Child("stabilizationWindowSeconds"), nil, "must be less than or equal to 3600"),
			field.NotSupported(scaleUp.Child("selectPolicy"), "Avg", []string{"Disabled", "Max", "Min"}),
			field.Invalid(scaleUp.Child("tolerance"), nil, "must be greater than or equal to zero"),
			field.NotSupported(scaleUp.Child("policies").Index(0).Child("type"), "Nodes", []string{"Percent", "Pods"}),
			field.Invalid(scaleUp.Child("policies").Index(0).Child("value"), nil, "must be greater than zero"),
			field.Invalid(scaleUp.Child("policies").Index(0).Child("periodSeconds"), nil, "must be less than or equal to 1800"),
			field.Invalid(scaleUp.Child("policies").Index(1).Child("periodSeconds"), nil, "must be greater than zero"),
		}},
		{"scaling rules need policies", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior.ScaleDown.Policies = nil
		}, field.ErrorList{
			field.Required(path("spec", "behavior", "scaleDown", "policies"), "must specify at least one Policy"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := validHPA()
			tc.mutate(h)
			matcher.Test(t, tc.want, ValidateHorizontalPodAutoscaler(h))
		})
	}
}

func TestValidateHorizontalPodAutoscalerUpdate(t *testing.T) {
	old := validHPA()
	h := old.DeepCopy()
	h.Spec.MaxReplicas = 20
	matcher.Test(t, nil, ValidateHorizontalPodAutoscalerUpdate(h, old))

	h.Spec.MinReplicas = ptr.To[int32](0)
	matcher.Test(t, field.ErrorList{
		field.Invalid(path("spec", "minReplicas"), nil, "must be greater than or equal to 1"),
		field.Forbidden(path("spec", "metrics"), ""),
	}, ValidateHorizontalPodAutoscalerUpdate(h, old))
}

func TestValidateHorizontalPodAutoscalerUpdateKeepsExistingScaleToZero(t *testing.T) {
	old := validHPA()
	old.Spec.MinReplicas = ptr.To[int32](0)
	old.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "queue"},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("5"))},
	}}}
	h := old.DeepCopy()
	h.Spec.MaxReplicas = 3
	matcher.Test(t, nil, ValidateHorizontalPodAutoscalerUpdate(h, old))
}

func TestValidateHorizontalPodAutoscalerStatusUpdate(t *testing.T) {
	old := validHPA()
	h := old.DeepCopy()
	h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, DesiredReplicas: 3}
	matcher.Test(t, nil, ValidateHorizontalPodAutoscalerStatusUpdate(h, old))

	h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: -1, DesiredReplicas: -1}
	matcher.Test(t, field.ErrorList{
		field.Invalid(path("status", "currentReplicas"), nil, ""),
		field.Invalid(path("status", "desiredReplicas"), nil, ""),
	}, ValidateHorizontalPodAutoscalerStatusUpdate(h, old))
}

func TestValidateScale(t *testing.T) {
	cases := []struct {
		name  string
		scale autoscalingv1.Scale
		want  field.ErrorList
	}{
		{"valid scale passes", autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: autoscalingv1.ScaleSpec{Replicas: 3}}, nil},
		{"zero replicas pass", autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}}, nil},
		{"negative replicas are invalid", autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: autoscalingv1.ScaleSpec{Replicas: -1}}, field.ErrorList{
			field.Invalid(path("spec", "replicas"), nil, "must be greater than or equal to 0"),
		}},
		{"name is required", autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Namespace: "default"}}, field.ErrorList{
			field.Required(path("metadata", "name"), ""),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			matcher.Test(t, tc.want, ValidateScale(&tc.scale))
		})
	}
}

func TestValidateContainerResourceName(t *testing.T) {
	cases := []struct {
		name  corev1.ResourceName
		valid bool
	}{
		{"cpu", true},
		{"memory", true},
		{"ephemeral-storage", true},
		{"hugepages-2Mi", true},
		{"example.com/gpu", true},
		{"kubernetes.io/batch-cpu", true},
		{"pods", false},
		{"requests.example.com/gpu", false},
		{"bad name", false},
	}
	for _, tc := range cases {
		errs := validateContainerResourceName(tc.name, path("name"))
		if (len(errs) == 0) != tc.valid {
			t.Errorf("validateContainerResourceName(%q) = %v, want valid=%v", tc.name, errs, tc.valid)
		}
	}
}
