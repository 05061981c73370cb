package conversion

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/apiserver/defaults"
)

// The annotations, named as upstream's, in which an autoscaling/v1 HorizontalPodAutoscaler carries the
// autoscaling/v2 fields v1 has no field for, so that a client reading and writing back v1 loses none of them.
// They exist only on the v1 form: converting to v2 takes them off.
const (
	// MetricsAnnotation holds the spec metrics other than the one in targetCPUUtilizationPercentage.
	MetricsAnnotation = "autoscaling.alpha.kubernetes.io/metrics"
	// CurrentMetricsAnnotation holds status.currentMetrics.
	CurrentMetricsAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics"
	// ConditionsAnnotation holds status.conditions.
	ConditionsAnnotation = "autoscaling.alpha.kubernetes.io/conditions"
	// BehaviorAnnotation holds spec.behavior.
	BehaviorAnnotation = "autoscaling.alpha.kubernetes.io/behavior"
)

var roundTripAnnotations = []string{MetricsAnnotation, CurrentMetricsAnnotation, ConditionsAnnotation, BehaviorAnnotation}

// Each metric in the metrics annotations is written as upstream writes it (the autoscaling/v1 MetricSpec and
// MetricStatus shapes) when that shape holds it exactly, and in its autoscaling/v2 shape otherwise: the v1
// shape cannot tell, for example, an unset object target value from a zero one. Both shapes are read back,
// so annotations written by kube-apiserver are understood too.

// hpaV2ToV1 converts a stored autoscaler to autoscaling/v1: the first CPU resource metric, if it targets a
// utilization, becomes targetCPUUtilizationPercentage, and what v1 cannot hold goes into the annotations.
func hpaV2ToV1(in *autoscalingv2.HorizontalPodAutoscaler, out *autoscalingv1.HorizontalPodAutoscaler) error {
	out.ObjectMeta = in.ObjectMeta
	annotations := annotationsFor(in.Annotations)

	metrics := in.Spec.Metrics
	var targetCPU *int32
	if i := firstCPUMetric(metrics); i >= 0 && metrics[i].Resource.Target.AverageUtilization != nil {
		targetCPU = metrics[i].Resource.Target.AverageUtilization
		// The metric stays in the annotation to keep its place among the others, unless converting back
		// rebuilds it exactly from the field: when it is the plain form and last, where it is appended.
		if i == len(metrics)-1 && apiequality.Semantic.DeepEqual(metrics[i], cpuUtilizationMetric(targetCPU)) {
			metrics = metrics[:i]
		}
	}
	out.Spec = autoscalingv1.HorizontalPodAutoscalerSpec{
		ScaleTargetRef:                 autoscalingv1.CrossVersionObjectReference(in.Spec.ScaleTargetRef),
		MinReplicas:                    in.Spec.MinReplicas,
		MaxReplicas:                    in.Spec.MaxReplicas,
		TargetCPUUtilizationPercentage: targetCPU,
	}
	if len(metrics) > 0 {
		enc, err := encodeMetrics(metrics, metricSpecToV1, metricSpecFromV1)
		if err != nil {
			return fmt.Errorf("encode spec.metrics: %w", err)
		}
		annotations.set(MetricsAnnotation, enc)
	}
	if in.Spec.Behavior != nil {
		enc, err := json.Marshal(in.Spec.Behavior)
		if err != nil {
			return fmt.Errorf("encode spec.behavior: %w", err)
		}
		annotations.set(BehaviorAnnotation, string(enc))
	}

	out.Status = autoscalingv1.HorizontalPodAutoscalerStatus{
		ObservedGeneration:              in.Status.ObservedGeneration,
		LastScaleTime:                   in.Status.LastScaleTime,
		CurrentReplicas:                 in.Status.CurrentReplicas,
		DesiredReplicas:                 in.Status.DesiredReplicas,
		CurrentCPUUtilizationPercentage: currentCPUUtilization(in.Status.CurrentMetrics),
	}
	// Upstream keeps the current metrics even when v1's field shows them, for their raw values; they are
	// left out only when the field alone gives them back.
	if !apiequality.Semantic.DeepEqual(in.Status.CurrentMetrics, currentMetricsFromField(out.Status.CurrentCPUUtilizationPercentage)) {
		enc, err := encodeMetrics(in.Status.CurrentMetrics, metricStatusToV1, metricStatusFromV1)
		if err != nil {
			return fmt.Errorf("encode status.currentMetrics: %w", err)
		}
		annotations.set(CurrentMetricsAnnotation, enc)
	}
	if len(in.Status.Conditions) > 0 {
		enc, err := json.Marshal(in.Status.Conditions)
		if err != nil {
			return fmt.Errorf("encode status.conditions: %w", err)
		}
		annotations.set(ConditionsAnnotation, string(enc))
	}
	out.Annotations = annotations.m
	return nil
}

// hpaV1ToV2 converts an autoscaling/v1 autoscaler to the stored form, taking back what the annotations hold.
func hpaV1ToV2(in *autoscalingv1.HorizontalPodAutoscaler, out *autoscalingv2.HorizontalPodAutoscaler) error {
	out.ObjectMeta = in.ObjectMeta
	out.Annotations = annotationsFor(in.Annotations).m

	var metrics []autoscalingv2.MetricSpec
	if enc, ok := in.Annotations[MetricsAnnotation]; ok {
		var err error
		if metrics, err = decodeMetrics(enc, metricSpecFromV1); err != nil {
			return fmt.Errorf("decode annotation %s: %w", MetricsAnnotation, err)
		}
	}
	targetCPU := in.Spec.TargetCPUUtilizationPercentage
	if i := firstCPUMetric(metrics); i >= 0 && metrics[i].Resource.Target.AverageUtilization != nil {
		// This entry marks the place of the metric in targetCPUUtilizationPercentage, which a v1 client may
		// have changed or removed since.
		if targetCPU != nil {
			metrics[i].Resource.Target.AverageUtilization = targetCPU
		} else {
			metrics = slices.Delete(metrics, i, i+1)
		}
	} else if targetCPU != nil {
		metrics = append(metrics, cpuUtilizationMetric(targetCPU))
	}
	// autoscaling/v1 scales on CPU by default; v2 states it, as upstream's conversion does.
	if len(metrics) == 0 {
		metrics = []autoscalingv2.MetricSpec{cpuUtilizationMetric(ptr.To(int32(defaults.DefaultCPUUtilization)))}
	}
	var behavior *autoscalingv2.HorizontalPodAutoscalerBehavior
	if enc, ok := in.Annotations[BehaviorAnnotation]; ok {
		behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{}
		if err := json.Unmarshal([]byte(enc), behavior); err != nil {
			return fmt.Errorf("decode annotation %s: %w", BehaviorAnnotation, err)
		}
	}
	out.Spec = autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference(in.Spec.ScaleTargetRef),
		MinReplicas:    in.Spec.MinReplicas,
		MaxReplicas:    in.Spec.MaxReplicas,
		Metrics:        metrics,
		Behavior:       behavior,
	}

	current := currentMetricsFromField(in.Status.CurrentCPUUtilizationPercentage)
	if enc, ok := in.Annotations[CurrentMetricsAnnotation]; ok {
		var err error
		if current, err = decodeMetrics(enc, metricStatusFromV1); err != nil {
			return fmt.Errorf("decode annotation %s: %w", CurrentMetricsAnnotation, err)
		}
	}
	var conditions []autoscalingv2.HorizontalPodAutoscalerCondition
	if enc, ok := in.Annotations[ConditionsAnnotation]; ok {
		if err := json.Unmarshal([]byte(enc), &conditions); err != nil {
			return fmt.Errorf("decode annotation %s: %w", ConditionsAnnotation, err)
		}
	}
	out.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		ObservedGeneration: in.Status.ObservedGeneration,
		LastScaleTime:      in.Status.LastScaleTime,
		CurrentReplicas:    in.Status.CurrentReplicas,
		DesiredReplicas:    in.Status.DesiredReplicas,
		CurrentMetrics:     current,
		Conditions:         conditions,
	}
	return nil
}

func hpaListV2ToV1(in *autoscalingv2.HorizontalPodAutoscalerList, out *autoscalingv1.HorizontalPodAutoscalerList) error {
	out.ListMeta = in.ListMeta
	out.Items = nil
	if in.Items != nil {
		out.Items = make([]autoscalingv1.HorizontalPodAutoscaler, len(in.Items))
		for i := range in.Items {
			if err := hpaV2ToV1(&in.Items[i], &out.Items[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func hpaListV1ToV2(in *autoscalingv1.HorizontalPodAutoscalerList, out *autoscalingv2.HorizontalPodAutoscalerList) error {
	out.ListMeta = in.ListMeta
	out.Items = nil
	if in.Items != nil {
		out.Items = make([]autoscalingv2.HorizontalPodAutoscaler, len(in.Items))
		for i := range in.Items {
			if err := hpaV1ToV2(&in.Items[i], &out.Items[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// annotationSet is an output object's annotations, copied from the input's on first change so the input's
// map, which the output shares, is never written.
type annotationSet struct {
	m      map[string]string
	copied bool
}

// annotationsFor returns in without the round-trip annotations; a nil map when nothing is left.
func annotationsFor(in map[string]string) annotationSet {
	for _, key := range roundTripAnnotations {
		if _, ok := in[key]; ok {
			m := maps.Clone(in)
			for _, key := range roundTripAnnotations {
				delete(m, key)
			}
			if len(m) == 0 {
				m = nil
			}
			return annotationSet{m: m, copied: true}
		}
	}
	return annotationSet{m: in}
}

func (a *annotationSet) set(key, value string) {
	if !a.copied {
		a.m = maps.Clone(a.m)
		a.copied = true
	}
	if a.m == nil {
		a.m = map[string]string{}
	}
	a.m[key] = value
}

// firstCPUMetric returns the index of the first CPU resource metric, the one v1's field stands for, or -1.
func firstCPUMetric(metrics []autoscalingv2.MetricSpec) int {
	return slices.IndexFunc(metrics, func(m autoscalingv2.MetricSpec) bool {
		return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU
	})
}

// cpuUtilizationMetric is the v2 metric targetCPUUtilizationPercentage means.
func cpuUtilizationMetric(utilization *int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: utilization},
		},
	}
}

// currentCPUUtilization returns the utilization v1's status shows: the last CPU resource status that has one.
func currentCPUUtilization(statuses []autoscalingv2.MetricStatus) *int32 {
	var utilization *int32
	for _, m := range statuses {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Current.AverageUtilization != nil {
			utilization = m.Resource.Current.AverageUtilization
		}
	}
	return utilization
}

// currentMetricsFromField is the v2 status currentCPUUtilizationPercentage means on its own.
func currentMetricsFromField(utilization *int32) []autoscalingv2.MetricStatus {
	if utilization == nil {
		return nil
	}
	return []autoscalingv2.MetricStatus{{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricStatus{
			Name:    corev1.ResourceCPU,
			Current: autoscalingv2.MetricValueStatus{AverageUtilization: utilization},
		},
	}}
}

// encodeMetrics encodes a list of metrics (specs or statuses) as a JSON array, each entry in its v1 shape
// when that shape converts back to the same metric, else in its v2 shape.
func encodeMetrics[V2, V1 any](items []V2, toV1 func(V2) V1, fromV1 func(V1) V2) (string, error) {
	entries := make([]json.RawMessage, len(items))
	for i, item := range items {
		var entry any = item
		if legacy := toV1(item); apiequality.Semantic.DeepEqual(fromV1(legacy), item) {
			entry = legacy
		}
		enc, err := json.Marshal(entry)
		if err != nil {
			return "", err
		}
		entries[i] = enc
	}
	enc, err := json.Marshal(entries)
	return string(enc), err
}

// decodeMetrics reads what encodeMetrics writes, and upstream's annotations. An entry is read in the v1 shape
// if it has only v1 fields, else in the v2 shape if it has only v2 fields, else, as upstream reads it, in the
// v1 shape ignoring the fields it does not know.
func decodeMetrics[V2, V1 any](enc string, fromV1 func(V1) V2) ([]V2, error) {
	var entries []json.RawMessage
	if err := json.Unmarshal([]byte(enc), &entries); err != nil {
		return nil, err
	}
	var out []V2
	for i, entry := range entries {
		var legacy V1
		if decodeStrict(entry, &legacy) == nil {
			out = append(out, fromV1(legacy))
			continue
		}
		var item V2
		if decodeStrict(entry, &item) == nil {
			out = append(out, item)
			continue
		}
		legacy = *new(V1)
		if err := json.Unmarshal(entry, &legacy); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		out = append(out, fromV1(legacy))
	}
	return out, nil
}

func decodeStrict(data []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

// The conversions of single metrics between the v1 shapes of the annotations and v2 are upstream's.

func metricSpecToV1(in autoscalingv2.MetricSpec) autoscalingv1.MetricSpec {
	out := autoscalingv1.MetricSpec{Type: autoscalingv1.MetricSourceType(in.Type)}
	if s := in.Object; s != nil {
		out.Object = &autoscalingv1.ObjectMetricSource{
			Target:       autoscalingv1.CrossVersionObjectReference(s.DescribedObject),
			MetricName:   s.Metric.Name,
			Selector:     s.Metric.Selector,
			AverageValue: s.Target.AverageValue,
		}
		if s.Target.Value != nil {
			out.Object.TargetValue = *s.Target.Value
		}
	}
	if s := in.Pods; s != nil {
		out.Pods = &autoscalingv1.PodsMetricSource{MetricName: s.Metric.Name, Selector: s.Metric.Selector}
		if s.Target.AverageValue != nil {
			out.Pods.TargetAverageValue = *s.Target.AverageValue
		}
	}
	if s := in.Resource; s != nil {
		out.Resource = &autoscalingv1.ResourceMetricSource{
			Name:                     s.Name,
			TargetAverageUtilization: s.Target.AverageUtilization,
			TargetAverageValue:       s.Target.AverageValue,
		}
	}
	if s := in.ContainerResource; s != nil {
		out.ContainerResource = &autoscalingv1.ContainerResourceMetricSource{
			Name:                     s.Name,
			Container:                s.Container,
			TargetAverageUtilization: s.Target.AverageUtilization,
			TargetAverageValue:       s.Target.AverageValue,
		}
	}
	if s := in.External; s != nil {
		out.External = &autoscalingv1.ExternalMetricSource{
			MetricName:         s.Metric.Name,
			MetricSelector:     s.Metric.Selector,
			TargetValue:        s.Target.Value,
			TargetAverageValue: s.Target.AverageValue,
		}
	}
	return out
}

func metricSpecFromV1(in autoscalingv1.MetricSpec) autoscalingv2.MetricSpec {
	out := autoscalingv2.MetricSpec{Type: autoscalingv2.MetricSourceType(in.Type)}
	if s := in.Object; s != nil {
		targetType := autoscalingv2.ValueMetricType
		if s.AverageValue != nil {
			targetType = autoscalingv2.AverageValueMetricType
		}
		value := s.TargetValue
		out.Object = &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference(s.Target),
			Target:          autoscalingv2.MetricTarget{Type: targetType, Value: &value, AverageValue: s.AverageValue},
			Metric:          autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector},
		}
	}
	if s := in.Pods; s != nil {
		averageValue := s.TargetAverageValue
		out.Pods = &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &averageValue},
		}
	}
	if s := in.Resource; s != nil {
		out.Resource = &autoscalingv2.ResourceMetricSource{
			Name:   s.Name,
			Target: resourceTarget(s.TargetAverageUtilization, s.TargetAverageValue),
		}
	}
	if s := in.ContainerResource; s != nil {
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricSource{
			Name:      s.Name,
			Container: s.Container,
			Target:    resourceTarget(s.TargetAverageUtilization, s.TargetAverageValue),
		}
	}
	if s := in.External; s != nil {
		targetType := autoscalingv2.AverageValueMetricType
		if s.TargetValue != nil {
			targetType = autoscalingv2.ValueMetricType
		}
		out.External = &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.MetricSelector},
			Target: autoscalingv2.MetricTarget{Type: targetType, Value: s.TargetValue, AverageValue: s.TargetAverageValue},
		}
	}
	return out
}

func resourceTarget(utilization *int32, averageValue *resource.Quantity) autoscalingv2.MetricTarget {
	if utilization != nil {
		return autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: utilization, AverageValue: averageValue}
	}
	return autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: averageValue}
}

func metricStatusToV1(in autoscalingv2.MetricStatus) autoscalingv1.MetricStatus {
	out := autoscalingv1.MetricStatus{Type: autoscalingv1.MetricSourceType(in.Type)}
	if s := in.Object; s != nil {
		out.Object = &autoscalingv1.ObjectMetricStatus{
			Target:       autoscalingv1.CrossVersionObjectReference(s.DescribedObject),
			MetricName:   s.Metric.Name,
			Selector:     s.Metric.Selector,
			AverageValue: s.Current.AverageValue,
		}
		if s.Current.Value != nil {
			out.Object.CurrentValue = *s.Current.Value
		}
	}
	if s := in.Pods; s != nil {
		out.Pods = &autoscalingv1.PodsMetricStatus{MetricName: s.Metric.Name, Selector: s.Metric.Selector}
		if s.Current.AverageValue != nil {
			out.Pods.CurrentAverageValue = *s.Current.AverageValue
		}
	}
	if s := in.Resource; s != nil {
		out.Resource = &autoscalingv1.ResourceMetricStatus{Name: s.Name, CurrentAverageUtilization: s.Current.AverageUtilization}
		if s.Current.AverageValue != nil {
			out.Resource.CurrentAverageValue = *s.Current.AverageValue
		}
	}
	if s := in.ContainerResource; s != nil {
		out.ContainerResource = &autoscalingv1.ContainerResourceMetricStatus{
			Name:                      s.Name,
			Container:                 s.Container,
			CurrentAverageUtilization: s.Current.AverageUtilization,
		}
		if s.Current.AverageValue != nil {
			out.ContainerResource.CurrentAverageValue = *s.Current.AverageValue
		}
	}
	if s := in.External; s != nil {
		out.External = &autoscalingv1.ExternalMetricStatus{
			MetricName:          s.Metric.Name,
			MetricSelector:      s.Metric.Selector,
			CurrentAverageValue: s.Current.AverageValue,
		}
		if s.Current.Value != nil {
			out.External.CurrentValue = *s.Current.Value
		}
	}
	return out
}

func metricStatusFromV1(in autoscalingv1.MetricStatus) autoscalingv2.MetricStatus {
	out := autoscalingv2.MetricStatus{Type: autoscalingv2.MetricSourceType(in.Type)}
	if s := in.Object; s != nil {
		value := s.CurrentValue
		out.Object = &autoscalingv2.ObjectMetricStatus{
			Metric:          autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector},
			Current:         autoscalingv2.MetricValueStatus{Value: &value, AverageValue: s.AverageValue},
			DescribedObject: autoscalingv2.CrossVersionObjectReference(s.Target),
		}
	}
	if s := in.Pods; s != nil {
		averageValue := s.CurrentAverageValue
		out.Pods = &autoscalingv2.PodsMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector},
			Current: autoscalingv2.MetricValueStatus{AverageValue: &averageValue},
		}
	}
	if s := in.Resource; s != nil {
		averageValue := s.CurrentAverageValue
		out.Resource = &autoscalingv2.ResourceMetricStatus{
			Name:    s.Name,
			Current: autoscalingv2.MetricValueStatus{AverageValue: &averageValue, AverageUtilization: s.CurrentAverageUtilization},
		}
	}
	if s := in.ContainerResource; s != nil {
		averageValue := s.CurrentAverageValue
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricStatus{
			Name:      s.Name,
			Container: s.Container,
			Current:   autoscalingv2.MetricValueStatus{AverageValue: &averageValue, AverageUtilization: s.CurrentAverageUtilization},
		}
	}
	if s := in.External; s != nil {
		value := s.CurrentValue
		out.External = &autoscalingv2.ExternalMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.MetricSelector},
			Current: autoscalingv2.MetricValueStatus{Value: &value, AverageValue: s.CurrentAverageValue},
		}
	}
	return out
}
