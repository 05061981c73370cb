package conversion

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func quantity(s string) *resource.Quantity { return ptr.To(resource.MustParse(s)) }

func resourceMetric(name corev1.ResourceName, target autoscalingv2.MetricTarget) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type:     autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{Name: name, Target: target},
	}
}

func utilization(percent int32) autoscalingv2.MetricTarget {
	return autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(percent)}
}

func averageValue(q string) autoscalingv2.MetricTarget {
	return autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: quantity(q)}
}

var (
	ingressRef = autoscalingv2.CrossVersionObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "main"}
	selector   = &metav1.LabelSelector{MatchLabels: map[string]string{"queue": "jobs"}}

	objectAverage = autoscalingv2.MetricSpec{
		Type: autoscalingv2.ObjectMetricSourceType,
		Object: &autoscalingv2.ObjectMetricSource{
			DescribedObject: ingressRef,
			Metric:          autoscalingv2.MetricIdentifier{Name: "requests-per-second"},
			Target:          averageValue("100"),
		},
	}
	objectValue = autoscalingv2.MetricSpec{
		Type: autoscalingv2.ObjectMetricSourceType,
		Object: &autoscalingv2.ObjectMetricSource{
			DescribedObject: ingressRef,
			Metric:          autoscalingv2.MetricIdentifier{Name: "requests-per-second"},
			Target:          autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: quantity("2k")},
		},
	}
	podsMetric = autoscalingv2.MetricSpec{
		Type: autoscalingv2.PodsMetricSourceType,
		Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: "packets-per-second", Selector: selector},
			Target: averageValue("1k"),
		},
	}
	externalMetric = autoscalingv2.MetricSpec{
		Type: autoscalingv2.ExternalMetricSourceType,
		External: &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: "queue-length", Selector: selector},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: quantity("30")},
		},
	}
	containerMetric = autoscalingv2.MetricSpec{
		Type: autoscalingv2.ContainerResourceMetricSourceType,
		ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
			Name: corev1.ResourceCPU, Container: "app", Target: utilization(60),
		},
	}
	cpuStatus = autoscalingv2.MetricStatus{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricStatus{
			Name:    corev1.ResourceCPU,
			Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To(int32(42)), AverageValue: quantity("210m")},
		},
	}
	objectStatus = autoscalingv2.MetricStatus{
		Type: autoscalingv2.ObjectMetricSourceType,
		Object: &autoscalingv2.ObjectMetricStatus{
			DescribedObject: ingressRef,
			Metric:          autoscalingv2.MetricIdentifier{Name: "requests-per-second"},
			Current:         autoscalingv2.MetricValueStatus{AverageValue: quantity("80")},
		},
	}
	condition = autoscalingv2.HorizontalPodAutoscalerCondition{
		Type:               autoscalingv2.AbleToScale,
		Status:             corev1.ConditionTrue,
		LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		Reason:             "ReadyForNewScale",
		Message:            "recommended size matches current size",
	}
)

func hpaV2(metrics ...autoscalingv2.MetricSpec) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Annotations: map[string]string{"team": "a"}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To(int32(2)),
			MaxReplicas:    10,
			Metrics:        metrics,
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, DesiredReplicas: 4},
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHPAV2ToV1ToV2LosesNothing(t *testing.T) {
	withStatus := func(h *autoscalingv2.HorizontalPodAutoscaler, current []autoscalingv2.MetricStatus, conditions ...autoscalingv2.HorizontalPodAutoscalerCondition) *autoscalingv2.HorizontalPodAutoscaler {
		h.Status.CurrentMetrics = current
		h.Status.Conditions = conditions
		h.Status.ObservedGeneration = ptr.To(int64(3))
		h.Status.LastScaleTime = ptr.To(metav1.NewTime(time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)))
		return h
	}
	withBehavior := func(h *autoscalingv2.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscaler {
		h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleDown: &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: ptr.To(int32(60)),
				SelectPolicy:               ptr.To(autoscalingv2.MinChangePolicySelect),
				Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 30}},
				Tolerance:                  quantity("50m"),
			},
		}
		return h
	}

	tests := []struct {
		name string
		in   *autoscalingv2.HorizontalPodAutoscaler
		// What the v1 form must show.
		wantCPU         *int32
		wantCurrentCPU  *int32
		wantAnnotations []string
	}{
		{
			name:    "a CPU utilization target alone is the v1 field and needs no annotation",
			in:      hpaV2(resourceMetric(corev1.ResourceCPU, utilization(50))),
			wantCPU: ptr.To(int32(50)),
		},
		{
			name:            "a CPU target listed first keeps its place through the metrics annotation",
			in:              hpaV2(resourceMetric(corev1.ResourceCPU, utilization(50)), resourceMetric(corev1.ResourceMemory, averageValue("500Mi"))),
			wantCPU:         ptr.To(int32(50)),
			wantAnnotations: []string{MetricsAnnotation},
		},
		{
			name:            "other metrics of every source type are kept in the metrics annotation",
			in:              hpaV2(objectAverage, objectValue, podsMetric, externalMetric, containerMetric, resourceMetric(corev1.ResourceMemory, utilization(70)), resourceMetric(corev1.ResourceCPU, utilization(50))),
			wantCPU:         ptr.To(int32(50)),
			wantAnnotations: []string{MetricsAnnotation},
		},
		{
			name:            "a CPU average value target is not the v1 field",
			in:              hpaV2(resourceMetric(corev1.ResourceCPU, averageValue("200m"))),
			wantAnnotations: []string{MetricsAnnotation},
		},
		{
			name:            "only the first CPU metric is the v1 field, a later CPU utilization metric stays in the annotation",
			in:              hpaV2(resourceMetric(corev1.ResourceCPU, averageValue("200m")), resourceMetric(corev1.ResourceCPU, utilization(60))),
			wantAnnotations: []string{MetricsAnnotation},
		},
		{
			name: "a last CPU metric with more than a utilization stays in the annotation",
			in: hpaV2(resourceMetric(corev1.ResourceMemory, utilization(70)), resourceMetric(corev1.ResourceCPU, autoscalingv2.MetricTarget{
				Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(50)), AverageValue: quantity("1"),
			})),
			wantCPU:         ptr.To(int32(50)),
			wantAnnotations: []string{MetricsAnnotation},
		},
		{
			name:            "behavior, including tolerance, is kept in the behavior annotation",
			in:              withBehavior(hpaV2(resourceMetric(corev1.ResourceCPU, utilization(50)))),
			wantCPU:         ptr.To(int32(50)),
			wantAnnotations: []string{BehaviorAnnotation},
		},
		{
			name:            "current metrics and conditions are kept in the status annotations",
			in:              withStatus(hpaV2(resourceMetric(corev1.ResourceCPU, utilization(50))), []autoscalingv2.MetricStatus{cpuStatus, objectStatus}, condition),
			wantCPU:         ptr.To(int32(50)),
			wantCurrentCPU:  ptr.To(int32(42)),
			wantAnnotations: []string{CurrentMetricsAnnotation, ConditionsAnnotation},
		},
		{
			name: "a current CPU utilization alone is the v1 status field and needs no annotation",
			in: withStatus(hpaV2(resourceMetric(corev1.ResourceCPU, utilization(50))), []autoscalingv2.MetricStatus{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricStatus{
					Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To(int32(42))},
				},
			}}),
			wantCPU:        ptr.To(int32(50)),
			wantCurrentCPU: ptr.To(int32(42)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			original := tt.in.DeepCopy()
			v1 := &autoscalingv1.HorizontalPodAutoscaler{}
			if err := hpaV2ToV1(tt.in, v1); err != nil {
				t.Fatal(err)
			}
			if !apiequality.Semantic.DeepEqual(tt.in, original) {
				t.Fatalf("conversion changed its input:\n%s", toJSON(t, tt.in))
			}
			if !ptr.Equal(v1.Spec.TargetCPUUtilizationPercentage, tt.wantCPU) {
				t.Errorf("targetCPUUtilizationPercentage = %v, want %v", ptr.Deref(v1.Spec.TargetCPUUtilizationPercentage, -1), ptr.Deref(tt.wantCPU, -1))
			}
			if !ptr.Equal(v1.Status.CurrentCPUUtilizationPercentage, tt.wantCurrentCPU) {
				t.Errorf("currentCPUUtilizationPercentage = %v, want %v", ptr.Deref(v1.Status.CurrentCPUUtilizationPercentage, -1), ptr.Deref(tt.wantCurrentCPU, -1))
			}
			if v1.Annotations["team"] != "a" {
				t.Errorf("annotation team = %q, want the object's own annotations kept", v1.Annotations["team"])
			}
			for _, key := range roundTripAnnotations {
				_, has := v1.Annotations[key]
				want := false
				for _, w := range tt.wantAnnotations {
					want = want || w == key
				}
				if has != want {
					t.Errorf("annotation %s present = %v, want %v (annotations %v)", key, has, want, v1.Annotations)
				}
			}

			back := &autoscalingv2.HorizontalPodAutoscaler{}
			if err := hpaV1ToV2(v1, back); err != nil {
				t.Fatal(err)
			}
			if !apiequality.Semantic.DeepEqual(back, original) {
				t.Errorf("v2 -> v1 -> v2 changed the object\n got: %s\nwant: %s", toJSON(t, back), toJSON(t, original))
			}
		})
	}
}

func TestHPAV2ToV1WritesUpstreamAnnotationFormat(t *testing.T) {
	in := hpaV2(resourceMetric(corev1.ResourceMemory, utilization(70)), podsMetric, resourceMetric(corev1.ResourceCPU, utilization(50)))
	in.Status.CurrentMetrics = []autoscalingv2.MetricStatus{cpuStatus}
	in.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{condition}
	v1 := &autoscalingv1.HorizontalPodAutoscaler{}
	if err := hpaV2ToV1(in, v1); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		MetricsAnnotation: `[{"type":"Resource","resource":{"name":"memory","targetAverageUtilization":70}},` +
			`{"type":"Pods","pods":{"metricName":"packets-per-second","targetAverageValue":"1k","selector":{"matchLabels":{"queue":"jobs"}}}}]`,
		CurrentMetricsAnnotation: `[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":42,"currentAverageValue":"210m"}}]`,
		ConditionsAnnotation: `[{"type":"AbleToScale","status":"True","lastTransitionTime":"2026-01-02T03:04:05Z",` +
			`"reason":"ReadyForNewScale","message":"recommended size matches current size"}]`,
	}
	for key, value := range want {
		if got := v1.Annotations[key]; got != value {
			t.Errorf("annotation %s\n got: %s\nwant: %s", key, got, value)
		}
	}
}

func TestHPAV2ToV1KeepsMetricsV1CannotHoldExactlyInV2Shape(t *testing.T) {
	// The v1 shape has a plain targetValue, so an object metric without a value would come back with "0".
	v1 := &autoscalingv1.HorizontalPodAutoscaler{}
	if err := hpaV2ToV1(hpaV2(objectAverage, resourceMetric(corev1.ResourceCPU, utilization(50))), v1); err != nil {
		t.Fatal(err)
	}
	got := v1.Annotations[MetricsAnnotation]
	if !strings.Contains(got, `"describedObject"`) || strings.Contains(got, `"targetValue"`) {
		t.Errorf("metrics annotation = %s, want the object metric in its v2 shape", got)
	}
}

func TestHPAV1ToV2ReadsUpstreamAnnotations(t *testing.T) {
	// As kube-apiserver writes them.
	in := &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{
			"team": "a",
			MetricsAnnotation: `[{"type":"Object","object":{"target":{"kind":"Ingress","name":"main","apiVersion":"networking.k8s.io/v1"},` +
				`"metricName":"requests-per-second","targetValue":"2k"}},` +
				`{"type":"External","external":{"metricName":"queue-length","metricSelector":{"matchLabels":{"queue":"jobs"}},"targetValue":"30"}}]`,
			CurrentMetricsAnnotation: `[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":42,"currentAverageValue":"210m"}}]`,
			ConditionsAnnotation: `[{"type":"AbleToScale","status":"True","lastTransitionTime":"2026-01-02T03:04:05Z",` +
				`"reason":"ReadyForNewScale","message":"recommended size matches current size"}]`,
			BehaviorAnnotation: `{"ScaleUp":null,"ScaleDown":{"StabilizationWindowSeconds":60,"SelectPolicy":"Min",` +
				`"Policies":[{"Type":"Pods","Value":1,"PeriodSeconds":30}],"Tolerance":"50m"}}`,
		}},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef:                 autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:                    10,
			TargetCPUUtilizationPercentage: ptr.To(int32(50)),
		},
		Status: autoscalingv1.HorizontalPodAutoscalerStatus{CurrentCPUUtilizationPercentage: ptr.To(int32(42))},
	}
	out := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := hpaV1ToV2(in, out); err != nil {
		t.Fatal(err)
	}
	want := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{"team": "a"}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    10,
			Metrics: []autoscalingv2.MetricSpec{
				{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
					DescribedObject: ingressRef,
					Metric:          autoscalingv2.MetricIdentifier{Name: "requests-per-second"},
					Target:          autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: quantity("2k")},
				}},
				externalMetric,
				resourceMetric(corev1.ResourceCPU, utilization(50)),
			},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: ptr.To(int32(60)),
				SelectPolicy:               ptr.To(autoscalingv2.MinChangePolicySelect),
				Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 30}},
				Tolerance:                  quantity("50m"),
			}},
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			CurrentMetrics: []autoscalingv2.MetricStatus{cpuStatus},
			Conditions:     []autoscalingv2.HorizontalPodAutoscalerCondition{condition},
		},
	}
	if !apiequality.Semantic.DeepEqual(out, want) {
		t.Errorf("got: %s\nwant: %s", toJSON(t, out), toJSON(t, want))
	}
	if len(in.Annotations) != 5 {
		t.Errorf("conversion changed its input's annotations: %v", in.Annotations)
	}
}

func TestHPAV1ToV2ToV1LosesNothing(t *testing.T) {
	base := func() *autoscalingv1.HorizontalPodAutoscaler {
		return &autoscalingv1.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
				ScaleTargetRef:                 autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				MinReplicas:                    ptr.To(int32(1)),
				MaxReplicas:                    5,
				TargetCPUUtilizationPercentage: ptr.To(int32(75)),
			},
			Status: autoscalingv1.HorizontalPodAutoscalerStatus{
				ObservedGeneration: ptr.To(int64(2)),
				CurrentReplicas:    2,
				DesiredReplicas:    2,
			},
		}
	}
	// The annotations a v2 autoscaler with more than v1 can say gets, as written by this package.
	annotated := base()
	{
		v2 := hpaV2(resourceMetric(corev1.ResourceCPU, utilization(75)), objectAverage, podsMetric)
		v2.Status.CurrentMetrics = []autoscalingv2.MetricStatus{cpuStatus, objectStatus}
		v2.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{condition}
		v1 := &autoscalingv1.HorizontalPodAutoscaler{}
		if err := hpaV2ToV1(v2, v1); err != nil {
			t.Fatal(err)
		}
		annotated.Annotations = v1.Annotations
		annotated.Status.CurrentCPUUtilizationPercentage = v1.Status.CurrentCPUUtilizationPercentage
	}
	currentOnly := base()
	currentOnly.Status.CurrentCPUUtilizationPercentage = ptr.To(int32(30))

	for name, in := range map[string]*autoscalingv1.HorizontalPodAutoscaler{
		"a plain v1 autoscaler":                   base(),
		"a v1 autoscaler carrying v2 annotations": annotated,
		"a v1 status with a current utilization":  currentOnly,
	} {
		t.Run(name, func(t *testing.T) {
			original := in.DeepCopy()
			v2 := &autoscalingv2.HorizontalPodAutoscaler{}
			if err := hpaV1ToV2(in, v2); err != nil {
				t.Fatal(err)
			}
			for _, key := range roundTripAnnotations {
				if _, ok := v2.Annotations[key]; ok {
					t.Errorf("v2 form still has annotation %s", key)
				}
			}
			back := &autoscalingv1.HorizontalPodAutoscaler{}
			if err := hpaV2ToV1(v2, back); err != nil {
				t.Fatal(err)
			}
			if !apiequality.Semantic.DeepEqual(back, original) {
				t.Errorf("v1 -> v2 -> v1 changed the object\n got: %s\nwant: %s", toJSON(t, back), toJSON(t, original))
			}
		})
	}
}

func TestHPAV1ToV2AppliesEditsToTargetCPU(t *testing.T) {
	cpu := resourceMetric(corev1.ResourceCPU, utilization(50))
	memory := resourceMetric(corev1.ResourceMemory, averageValue("500Mi"))
	tests := []struct {
		name      string
		stored    *autoscalingv2.HorizontalPodAutoscaler
		targetCPU *int32
		want      []autoscalingv2.MetricSpec
	}{
		{"a changed target replaces the CPU metric in its place", hpaV2(cpu, memory), ptr.To(int32(70)),
			[]autoscalingv2.MetricSpec{resourceMetric(corev1.ResourceCPU, utilization(70)), memory}},
		{"a removed target removes the CPU metric", hpaV2(cpu, memory), nil, []autoscalingv2.MetricSpec{memory}},
		{"a new target is appended to the other metrics", hpaV2(memory), ptr.To(int32(60)),
			[]autoscalingv2.MetricSpec{memory, resourceMetric(corev1.ResourceCPU, utilization(60))}},
		{"no metric at all means CPU at 80%, as upstream", hpaV2(cpu), nil,
			[]autoscalingv2.MetricSpec{resourceMetric(corev1.ResourceCPU, utilization(80))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v1 := &autoscalingv1.HorizontalPodAutoscaler{}
			if err := hpaV2ToV1(tt.stored, v1); err != nil {
				t.Fatal(err)
			}
			v1.Spec.TargetCPUUtilizationPercentage = tt.targetCPU
			out := &autoscalingv2.HorizontalPodAutoscaler{}
			if err := hpaV1ToV2(v1, out); err != nil {
				t.Fatal(err)
			}
			if !apiequality.Semantic.DeepEqual(out.Spec.Metrics, tt.want) {
				t.Errorf("metrics\n got: %s\nwant: %s", toJSON(t, out.Spec.Metrics), toJSON(t, tt.want))
			}
		})
	}
}

func TestHPAV1ToV2RejectsMalformedAnnotations(t *testing.T) {
	for _, key := range roundTripAnnotations {
		t.Run(key, func(t *testing.T) {
			in := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{key: "{not json"}}}
			err := hpaV1ToV2(in, &autoscalingv2.HorizontalPodAutoscaler{})
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("error = %v, want one naming %s", err, key)
			}
		})
	}
}

func TestHPAV2ToV1ReplacesRoundTripAnnotationsSetOnTheStoredObject(t *testing.T) {
	in := hpaV2(resourceMetric(corev1.ResourceCPU, utilization(50)))
	in.Annotations[MetricsAnnotation] = `[{"type":"Pods"}]`
	in.Annotations[ConditionsAnnotation] = `[]`
	v1 := &autoscalingv1.HorizontalPodAutoscaler{}
	if err := hpaV2ToV1(in, v1); err != nil {
		t.Fatal(err)
	}
	if _, ok := v1.Annotations[MetricsAnnotation]; ok {
		t.Errorf("v1 annotations = %v, want the stale metrics annotation gone", v1.Annotations)
	}
	if _, ok := v1.Annotations[ConditionsAnnotation]; ok {
		t.Errorf("v1 annotations = %v, want the stale conditions annotation gone", v1.Annotations)
	}
	if len(in.Annotations) != 3 {
		t.Errorf("conversion changed its input's annotations: %v", in.Annotations)
	}
}

func TestHPAListConversionConvertsEveryItem(t *testing.T) {
	in := &autoscalingv2.HorizontalPodAutoscalerList{
		ListMeta: metav1.ListMeta{ResourceVersion: "7"},
		Items:    []autoscalingv2.HorizontalPodAutoscaler{*hpaV2(resourceMetric(corev1.ResourceCPU, utilization(50))), *hpaV2(podsMetric)},
	}
	v1 := &autoscalingv1.HorizontalPodAutoscalerList{}
	if err := hpaListV2ToV1(in, v1); err != nil {
		t.Fatal(err)
	}
	if v1.ResourceVersion != "7" || len(v1.Items) != 2 || *v1.Items[0].Spec.TargetCPUUtilizationPercentage != 50 ||
		v1.Items[1].Annotations[MetricsAnnotation] == "" {
		t.Fatalf("v1 list = %s", toJSON(t, v1))
	}
	back := &autoscalingv2.HorizontalPodAutoscalerList{}
	if err := hpaListV1ToV2(v1, back); err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(back, in) {
		t.Errorf("list round trip\n got: %s\nwant: %s", toJSON(t, back), toJSON(t, in))
	}
}
