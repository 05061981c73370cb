package conversion

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEventToCoreMapsEveryField(t *testing.T) {
	first := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	last := metav1.NewTime(time.Date(2026, 1, 2, 3, 5, 5, 0, time.UTC))
	at := metav1.NewMicroTime(time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC))
	regarding := corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1", UID: "u1"}
	related := &corev1.ObjectReference{Kind: "Node", Name: "node-a"}
	source := corev1.EventSource{Component: "kubelet", Host: "node-a"}
	meta := metav1.ObjectMeta{Name: "web-1.1", Namespace: "default"}

	in := &eventsv1.Event{
		ObjectMeta:               meta,
		EventTime:                at,
		Series:                   &eventsv1.EventSeries{Count: 4, LastObservedTime: at},
		ReportingController:      "kubelet",
		ReportingInstance:        "kubelet-node-a",
		Action:                   "Pulling",
		Reason:                   "Pulled",
		Regarding:                regarding,
		Related:                  related,
		Note:                     "image pulled",
		Type:                     corev1.EventTypeNormal,
		DeprecatedSource:         source,
		DeprecatedFirstTimestamp: first,
		DeprecatedLastTimestamp:  last,
		DeprecatedCount:          4,
	}
	want := &corev1.Event{
		ObjectMeta:          meta,
		InvolvedObject:      regarding,
		Reason:              "Pulled",
		Message:             "image pulled",
		Source:              source,
		FirstTimestamp:      first,
		LastTimestamp:       last,
		Count:               4,
		Type:                corev1.EventTypeNormal,
		EventTime:           at,
		Series:              &corev1.EventSeries{Count: 4, LastObservedTime: at},
		Action:              "Pulling",
		Related:             related,
		ReportingController: "kubelet",
		ReportingInstance:   "kubelet-node-a",
	}
	got := &corev1.Event{}
	if err := eventToCore(in, got); err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("events.k8s.io/v1 -> core/v1\n got: %s\nwant: %s", toJSON(t, got), toJSON(t, want))
	}
	back := &eventsv1.Event{}
	if err := eventFromCore(got, back); err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(back, in) {
		t.Errorf("core/v1 -> events.k8s.io/v1\n got: %s\nwant: %s", toJSON(t, back), toJSON(t, in))
	}
}

func TestEventListConversionKeepsListMetaAndItems(t *testing.T) {
	in := &corev1.EventList{
		ListMeta: metav1.ListMeta{ResourceVersion: "9", Continue: "next"},
		Items:    []corev1.Event{{Message: "a"}, {Message: "b", Series: &corev1.EventSeries{Count: 2}}},
	}
	out := &eventsv1.EventList{}
	if err := eventListFromCore(in, out); err != nil {
		t.Fatal(err)
	}
	if out.ResourceVersion != "9" || out.Continue != "next" || len(out.Items) != 2 || out.Items[1].Note != "b" || out.Items[1].Series.Count != 2 {
		t.Fatalf("events.k8s.io list = %s", toJSON(t, out))
	}
	back := &corev1.EventList{}
	if err := eventListToCore(out, back); err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(back, in) {
		t.Errorf("list round trip\n got: %s\nwant: %s", toJSON(t, back), toJSON(t, in))
	}
}
