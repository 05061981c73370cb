package conversion

import (
	"math/rand"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/randfill"
)

// newScheme registers the served versions, and the stored types as their groups' internal versions as the
// API server does, so that ConvertToVersion finds its way between the two groups of events.
func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, eventsv1.AddToScheme, autoscalingv1.AddToScheme, autoscalingv2.AddToScheme, AddToScheme,
	} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	s.AddKnownTypes(schema.GroupVersion{Group: eventsv1.GroupName, Version: runtime.APIVersionInternal}, &corev1.Event{}, &corev1.EventList{})
	s.AddKnownTypes(schema.GroupVersion{Group: autoscalingv2.GroupName, Version: runtime.APIVersionInternal},
		&autoscalingv2.HorizontalPodAutoscaler{}, &autoscalingv2.HorizontalPodAutoscalerList{})
	return s
}

func TestConvertToVersionRoundTripsAndSetsTheTargetKind(t *testing.T) {
	s := newScheme(t)
	hpa := hpaV2(resourceMetric("cpu", utilization(50)), podsMetric)
	hpa.TypeMeta = metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"}
	event := &corev1.Event{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Event"}, Message: "m", Reason: "r"}
	hpaList := &autoscalingv2.HorizontalPodAutoscalerList{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscalerList"},
		Items:    []autoscalingv2.HorizontalPodAutoscaler{*hpaV2(resourceMetric("cpu", utilization(50)), podsMetric)},
	}
	eventList := &corev1.EventList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "EventList"}, Items: []corev1.Event{{Message: "m"}}}

	eventsInternal := schema.GroupVersion{Group: eventsv1.GroupName, Version: runtime.APIVersionInternal}
	tests := []struct {
		in      runtime.Object
		via     schema.GroupVersion
		wantGVK schema.GroupVersionKind
		// The way back is the way requests come in: to the stored type, as the group's internal version,
		// which has no kind.
		back        schema.GroupVersion
		wantBackGVK schema.GroupVersionKind
	}{
		{hpa, autoscalingv1.SchemeGroupVersion, autoscalingv1.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"),
			autoscalingv2.SchemeGroupVersion, autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler")},
		{hpaList, autoscalingv1.SchemeGroupVersion, autoscalingv1.SchemeGroupVersion.WithKind("HorizontalPodAutoscalerList"),
			autoscalingv2.SchemeGroupVersion, autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscalerList")},
		{event, eventsv1.SchemeGroupVersion, eventsv1.SchemeGroupVersion.WithKind("Event"), eventsInternal, schema.GroupVersionKind{}},
		{eventList, eventsv1.SchemeGroupVersion, eventsv1.SchemeGroupVersion.WithKind("EventList"), eventsInternal, schema.GroupVersionKind{}},
	}
	for _, tt := range tests {
		t.Run(tt.wantGVK.String(), func(t *testing.T) {
			original := tt.in.DeepCopyObject()
			converted, err := s.ConvertToVersion(tt.in, tt.via)
			if err != nil {
				t.Fatal(err)
			}
			if got := converted.GetObjectKind().GroupVersionKind(); got != tt.wantGVK {
				t.Errorf("converted kind = %v, want %v", got, tt.wantGVK)
			}
			back, err := s.ConvertToVersion(converted, tt.back)
			if err != nil {
				t.Fatal(err)
			}
			if got := back.GetObjectKind().GroupVersionKind(); got != tt.wantBackGVK {
				t.Errorf("kind after the way back = %v, want %v", got, tt.wantBackGVK)
			}
			want := original.DeepCopyObject()
			want.GetObjectKind().SetGroupVersionKind(tt.wantBackGVK)
			if !apiequality.Semantic.DeepEqual(back, want) {
				t.Errorf("round trip through %v\n got: %s\nwant: %s", tt.via, toJSON(t, back), toJSON(t, want))
			}
			if !apiequality.Semantic.DeepEqual(tt.in, original) {
				t.Errorf("ConvertToVersion changed its input")
			}
		})
	}
}

func TestSchemeConvertLeavesTypeMetaToTheCaller(t *testing.T) {
	s := newScheme(t)
	in := hpaV2(resourceMetric("cpu", utilization(50)))
	in.TypeMeta = metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"}
	out := &autoscalingv1.HorizontalPodAutoscaler{}
	if err := s.Convert(in, out, nil); err != nil {
		t.Fatal(err)
	}
	if out.TypeMeta != (metav1.TypeMeta{}) {
		t.Errorf("TypeMeta = %+v, want it untouched", out.TypeMeta)
	}
	if out.Name != "web" || ptr.Deref(out.Spec.TargetCPUUtilizationPercentage, 0) != 50 {
		t.Errorf("converted = %s", toJSON(t, out))
	}

	event := &eventsv1.Event{Note: "n"}
	core := &corev1.Event{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Event"}}
	if err := s.Convert(event, core, nil); err != nil {
		t.Fatal(err)
	}
	if core.Message != "n" || core.APIVersion != "v1" || core.Kind != "Event" {
		t.Errorf("converted event = %s, want the message set and TypeMeta untouched", toJSON(t, core))
	}
}

// newFiller fills objects with random values, with the conventions of upstream's round-trip tests (times
// that serialize exactly, small quantities, valid metadata). Metrics are arbitrary, or with coherent set
// true, shaped as clients write them: one source matching the type, CPU among the resources.
func newFiller(seed int64, coherent bool) *randfill.Filler {
	funcs := metafuzzer.Funcs
	if coherent {
		funcs = fuzzer.MergeFuzzerFuncs(funcs, coherentMetricFuncs)
	}
	return fuzzer.FuzzerFor(funcs, rand.NewSource(seed), serializer.CodecFactory{}).NilChance(0.3).NumElements(0, 3)
}

func coherentMetricFuncs(serializer.CodecFactory) []any {
	resourceNames := []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceCPU, corev1.ResourceMemory}
	return []any{
		func(m *autoscalingv2.MetricSpec, c randfill.Continue) {
			*m = autoscalingv2.MetricSpec{}
			switch c.Intn(5) {
			case 0:
				m.Type, m.Object = autoscalingv2.ObjectMetricSourceType, &autoscalingv2.ObjectMetricSource{}
				c.Fill(m.Object)
			case 1:
				m.Type, m.Pods = autoscalingv2.PodsMetricSourceType, &autoscalingv2.PodsMetricSource{}
				c.Fill(m.Pods)
			case 2:
				m.Type, m.External = autoscalingv2.ExternalMetricSourceType, &autoscalingv2.ExternalMetricSource{}
				c.Fill(m.External)
			case 3:
				m.Type, m.ContainerResource = autoscalingv2.ContainerResourceMetricSourceType, &autoscalingv2.ContainerResourceMetricSource{}
				c.Fill(m.ContainerResource)
			default:
				m.Type = autoscalingv2.ResourceMetricSourceType
				m.Resource = &autoscalingv2.ResourceMetricSource{Name: resourceNames[c.Intn(len(resourceNames))]}
				c.Fill(&m.Resource.Target)
			}
		},
		func(t *autoscalingv2.MetricTarget, c randfill.Continue) {
			switch c.Intn(3) {
			case 0:
				*t = autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(c.Int31n(100))}
			case 1:
				*t = autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(c.Int63n(1000), resource.DecimalSI)}
			default:
				*t = autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: resource.NewQuantity(c.Int63n(1000), resource.DecimalSI)}
			}
		},
		func(m *autoscalingv2.MetricStatus, c randfill.Continue) {
			*m = autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType}
			m.Resource = &autoscalingv2.ResourceMetricStatus{Name: resourceNames[c.Intn(len(resourceNames))]}
			m.Resource.Current.AverageValue = resource.NewQuantity(c.Int63n(1000), resource.DecimalSI)
			if c.Bool() {
				m.Resource.Current.AverageUtilization = ptr.To(c.Int31n(100))
			}
		},
	}
}

func TestRandomObjectsRoundTrip(t *testing.T) {
	const rounds = 300
	for i := range rounds {
		f := newFiller(int64(i), i%2 == 1)

		hpa := &autoscalingv2.HorizontalPodAutoscaler{}
		f.Fill(hpa)
		hpa.TypeMeta = metav1.TypeMeta{}
		if len(hpa.Spec.Metrics) == 0 {
			// v1 cannot say "no metric": it means CPU at 80%.
			hpa.Spec.Metrics = []autoscalingv2.MetricSpec{podsMetric}
		}
		v1 := &autoscalingv1.HorizontalPodAutoscaler{}
		back := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := hpaV2ToV1(hpa, v1); err != nil {
			t.Fatal(err)
		}
		if err := hpaV1ToV2(v1, back); err != nil {
			t.Fatal(err)
		}
		if !apiequality.Semantic.DeepEqual(back, hpa) {
			t.Fatalf("seed %d: v2 -> v1 -> v2\n got: %s\nwant: %s", i, toJSON(t, back), toJSON(t, hpa))
		}

		hpaV1 := &autoscalingv1.HorizontalPodAutoscaler{}
		f.Fill(hpaV1)
		hpaV1.TypeMeta = metav1.TypeMeta{}
		if hpaV1.Spec.TargetCPUUtilizationPercentage == nil {
			hpaV1.Spec.TargetCPUUtilizationPercentage = ptr.To(int32(50))
		}
		v2 := &autoscalingv2.HorizontalPodAutoscaler{}
		backV1 := &autoscalingv1.HorizontalPodAutoscaler{}
		if err := hpaV1ToV2(hpaV1, v2); err != nil {
			t.Fatal(err)
		}
		if err := hpaV2ToV1(v2, backV1); err != nil {
			t.Fatal(err)
		}
		if !apiequality.Semantic.DeepEqual(backV1, hpaV1) {
			t.Fatalf("seed %d: v1 -> v2 -> v1\n got: %s\nwant: %s", i, toJSON(t, backV1), toJSON(t, hpaV1))
		}

		event := &eventsv1.Event{}
		f.Fill(event)
		event.TypeMeta = metav1.TypeMeta{}
		core := &corev1.Event{}
		backEvent := &eventsv1.Event{}
		if err := eventToCore(event, core); err != nil {
			t.Fatal(err)
		}
		if err := eventFromCore(core, backEvent); err != nil {
			t.Fatal(err)
		}
		if !apiequality.Semantic.DeepEqual(backEvent, event) {
			t.Fatalf("seed %d: events.k8s.io -> core -> events.k8s.io\n got: %s\nwant: %s", i, toJSON(t, backEvent), toJSON(t, event))
		}

		coreEvent := &corev1.Event{}
		f.Fill(coreEvent)
		coreEvent.TypeMeta = metav1.TypeMeta{}
		viaEvents := &eventsv1.Event{}
		backCore := &corev1.Event{}
		if err := eventFromCore(coreEvent, viaEvents); err != nil {
			t.Fatal(err)
		}
		if err := eventToCore(viaEvents, backCore); err != nil {
			t.Fatal(err)
		}
		if !apiequality.Semantic.DeepEqual(backCore, coreEvent) {
			t.Fatalf("seed %d: core -> events.k8s.io -> core\n got: %s\nwant: %s", i, toJSON(t, backCore), toJSON(t, coreEvent))
		}
	}
}
