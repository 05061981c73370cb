package core

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// legacyEvent is an event as written by an old-style core/v1 recorder.
func legacyEvent() *corev1.Event {
	now := metav1.NewTime(time.Unix(1700000000, 0))
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.17a2b3c4d5e6f7", Namespace: "default", ResourceVersion: "1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u1"},
		Reason:         "Scheduled",
		Message:        "Successfully assigned default/web to node-1",
		Source:         corev1.EventSource{Component: "default-scheduler"},
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
		Type:           corev1.EventTypeNormal,
	}
}

// v1Event is an event written through events.k8s.io/v1, as stored after conversion.
func v1Event() *corev1.Event {
	return &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "web.17a2b3c4d5e6f8", Namespace: "default", ResourceVersion: "1"},
		InvolvedObject:      corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u1"},
		Reason:              "Pulled",
		Message:             "Container image pulled",
		Type:                corev1.EventTypeNormal,
		EventTime:           metav1.NewMicroTime(time.Unix(1700000000, 0)),
		Action:              "Pulling",
		ReportingController: "skiff.dev/agent",
		ReportingInstance:   "agent-node-1",
		Related:             &corev1.ObjectReference{Kind: "Node", Name: "node-1"},
	}
}

func withSeries(e *corev1.Event) {
	e.Series = &corev1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(time.Unix(1700000100, 0))}
}

func TestValidateEvent(t *testing.T) {
	runCases(t, legacyEvent, ValidateEvent, []tcase[corev1.Event]{
		{name: "legacy event passes"},
		{name: "events about cluster objects live in default", mutate: func(e *corev1.Event) {
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
		}},
		{name: "event names may carry characters of the involved object's name", mutate: func(e *corev1.Event) { e.Name = "system:controller:x.17a2" }},
		{name: "namespace must match the involved object", mutate: func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" },
			typ: field.ErrorTypeInvalid, field: "involvedObject.namespace", detail: "does not match event.namespace"},
		{name: "cluster object events may not live elsewhere", mutate: func(e *corev1.Event) { e.InvolvedObject.Namespace = ""; e.Namespace = "team-a" },
			typ: field.ErrorTypeInvalid, field: "involvedObject.namespace"},
		{name: "namespace is required", mutate: func(e *corev1.Event) { e.Namespace = "" }, typ: field.ErrorTypeRequired, field: "metadata.namespace"},
		{name: "name is required", mutate: func(e *corev1.Event) { e.Name = "" }, typ: field.ErrorTypeRequired, field: "metadata.name"},
		{name: "name may not contain a slash", mutate: func(e *corev1.Event) { e.Name = "a/b" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
	})
	runCases(t, v1Event, ValidateEvent, []tcase[corev1.Event]{
		{name: "events.k8s.io event passes core validation"},
		{name: "events.k8s.io event with series passes", mutate: withSeries},
		{name: "events about cluster objects may live in kube-system", mutate: func(e *corev1.Event) {
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
			e.Namespace = metav1.NamespaceSystem
		}},
		{name: "reportingController is required", mutate: func(e *corev1.Event) { e.ReportingController = "" },
			typ: field.ErrorTypeRequired, field: "reportingController"},
		{name: "reportingController is a qualified name", mutate: func(e *corev1.Event) { e.ReportingController = "skiff agent" },
			typ: field.ErrorTypeInvalid, field: "reportingController"},
		{name: "reportingInstance is required", mutate: func(e *corev1.Event) { e.ReportingInstance = "" },
			typ: field.ErrorTypeRequired, field: "reportingInstance"},
		{name: "reportingInstance is at most 128 characters", mutate: func(e *corev1.Event) { e.ReportingInstance = strings.Repeat("i", 129) },
			typ: field.ErrorTypeInvalid, field: "reportingInstance", detail: "can have at most 128 characters"},
		{name: "action is required", mutate: func(e *corev1.Event) { e.Action = "" }, typ: field.ErrorTypeRequired, field: "action"},
		{name: "reason is required", mutate: func(e *corev1.Event) { e.Reason = "" }, typ: field.ErrorTypeRequired, field: "reason"},
		{name: "message is at most 1024 characters", mutate: func(e *corev1.Event) { e.Message = strings.Repeat("m", 1025) },
			typ: field.ErrorTypeInvalid, field: "message"},
	})
	runUpdateCases(t, legacyEvent, ValidateEventUpdate, []ucase[corev1.Event]{
		{name: "recorders may bump the count", change: func(e *corev1.Event) { e.Count = 2; e.LastTimestamp = metav1.NewTime(time.Unix(1700000500, 0)) }},
		{name: "name is immutable", change: func(e *corev1.Event) { e.Name = "other" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "the new event is validated", change: func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" }, typ: field.ErrorTypeInvalid, field: "involvedObject.namespace"},
	})
}

func TestValidateEventV1(t *testing.T) {
	runCases(t, v1Event, ValidateEventV1, []tcase[corev1.Event]{
		{name: "events.k8s.io event passes"},
		{name: "series passes", mutate: withSeries},
		{name: "name is a DNS subdomain", mutate: func(e *corev1.Event) { e.Name = "Web:1" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "eventTime is required", mutate: func(e *corev1.Event) { e.EventTime = metav1.MicroTime{} }, typ: field.ErrorTypeRequired, field: "eventTime"},
		{name: "type is Normal or Warning", mutate: func(e *corev1.Event) { e.Type = "Info" }, typ: field.ErrorTypeInvalid, field: "type"},
		{name: "deprecated count must be unset", mutate: func(e *corev1.Event) { e.Count = 2 }, typ: field.ErrorTypeInvalid, field: "count"},
		{name: "deprecated source must be unset", mutate: func(e *corev1.Event) { e.Source.Component = "kubelet" }, typ: field.ErrorTypeInvalid, field: "source"},
		{name: "deprecated firstTimestamp must be unset", mutate: func(e *corev1.Event) { e.FirstTimestamp = metav1.Now() }, typ: field.ErrorTypeInvalid, field: "firstTimestamp"},
		{name: "series count is at least 2", mutate: func(e *corev1.Event) { withSeries(e); e.Series.Count = 1 }, typ: field.ErrorTypeInvalid, field: "series.count"},
		{name: "series needs lastObservedTime", mutate: func(e *corev1.Event) { withSeries(e); e.Series.LastObservedTime = metav1.MicroTime{} },
			typ: field.ErrorTypeRequired, field: "series.lastObservedTime"},
	})
	runUpdateCases(t, v1Event, ValidateEventV1Update, []ucase[corev1.Event]{
		{name: "series may be added", change: withSeries},
		{name: "series may grow", setup: withSeries, change: func(e *corev1.Event) { e.Series.Count = 4 }},
		{name: "note is immutable", change: func(e *corev1.Event) { e.Message = "other" }, typ: field.ErrorTypeInvalid, field: "message"},
		{name: "involved object is immutable", change: func(e *corev1.Event) { e.InvolvedObject.Name = "other" }, typ: field.ErrorTypeInvalid, field: "involvedObject"},
		{name: "reporting instance is immutable", change: func(e *corev1.Event) { e.ReportingInstance = "agent-2" }, typ: field.ErrorTypeInvalid, field: "reportingInstance"},
		{name: "new series is validated", change: func(e *corev1.Event) { withSeries(e); e.Series.Count = 0 }, typ: field.ErrorTypeInvalid, field: "series.count"},
	})
}
