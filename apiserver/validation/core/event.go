package core

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Length limits of events.k8s.io/v1 fields.
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// ValidateEvent validates an Event written through core/v1, or through events.k8s.io/v1 after
// conversion (eventTime, series, action, related and reporting* set). Only the rules every client
// generation satisfies apply here; ValidateEventV1 adds the stricter events.k8s.io/v1 ones.
func ValidateEvent(ev *corev1.Event) field.ErrorList {
	// Event names are derived from the involved object's name, which need not be a DNS name
	// (RBAC objects may contain ':'), so any valid path segment is accepted.
	allErrs := validateObjectMeta(&ev.ObjectMeta, true, validatePathSegmentName, field.NewPath("metadata"))
	return append(allErrs, validateEventCompat(ev)...)
}

// ValidateEventUpdate validates an update of an Event written through core/v1.
func ValidateEventUpdate(ev, old *corev1.Event) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ev.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, validateEventCompat(ev)...)
}

// validateEventCompat holds the checks for all events. Events without eventTime come from old
// recorders and only need their namespace to match the involved object's; events with eventTime
// are new-style and must say who reported them and what happened.
func validateEventCompat(ev *corev1.Event) field.ErrorList {
	var allErrs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	const nsMsg = "does not match event.namespace"
	if ev.EventTime.IsZero() {
		if ev.InvolvedObject.Namespace == "" {
			// Events about cluster-scoped objects live in "default" (or nowhere, for very old clients).
			if ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault {
				allErrs = append(allErrs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, nsMsg))
			}
		} else if ev.Namespace != ev.InvolvedObject.Namespace {
			allErrs = append(allErrs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, nsMsg))
		}
	} else {
		if ev.InvolvedObject.Namespace == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
			allErrs = append(allErrs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, nsMsg))
		}
		if ev.ReportingController == "" {
			allErrs = append(allErrs, field.Required(field.NewPath("reportingController"), ""))
		}
		allErrs = append(allErrs, validateQualifiedName(ev.ReportingController, field.NewPath("reportingController"))...)
		allErrs = append(allErrs, validateEventString(ev.ReportingInstance, "reportingInstance", reportingInstanceLengthLimit, true)...)
		allErrs = append(allErrs, validateEventString(ev.Action, "action", actionLengthLimit, true)...)
		allErrs = append(allErrs, validateEventString(ev.Reason, "reason", reasonLengthLimit, true)...)
		allErrs = append(allErrs, validateEventString(ev.Message, "message", noteLengthLimit, false)...)
	}
	allErrs = append(allErrs, validateDNS1123Subdomain(ev.Namespace, field.NewPath("namespace"))...)
	return allErrs
}

func validateEventString(value, name string, limit int, required bool) field.ErrorList {
	var allErrs field.ErrorList
	if required && value == "" {
		allErrs = append(allErrs, field.Required(field.NewPath(name), ""))
	}
	if len(value) > limit {
		allErrs = append(allErrs, field.Invalid(field.NewPath(name), "", fmt.Sprintf("can have at most %v characters", limit)))
	}
	return allErrs
}

// ValidateEventV1 adds the events.k8s.io/v1 rules for events created through that API: a DNS
// subdomain name, eventTime and a Normal/Warning type, a valid series, and none of the deprecated
// core fields (firstTimestamp, lastTimestamp, count, source).
func ValidateEventV1(ev *corev1.Event) field.ErrorList {
	allErrs := validateObjectMeta(&ev.ObjectMeta, true, nameIsDNSSubdomain, field.NewPath("metadata"))
	allErrs = append(allErrs, validateEventCompat(ev)...)
	allErrs = append(allErrs, validateEventSeries(ev)...)
	if ev.EventTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("eventTime"), ""))
	}
	if ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
		allErrs = append(allErrs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", ev.Type)))
	}
	const unsetMsg = "needs to be unset"
	if !ev.FirstTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("firstTimestamp"), "", unsetMsg))
	}
	if !ev.LastTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("lastTimestamp"), "", unsetMsg))
	}
	if ev.Count != 0 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("count"), "", unsetMsg))
	}
	if ev.Source.Component != "" || ev.Source.Host != "" {
		allErrs = append(allErrs, field.Invalid(field.NewPath("source"), "", unsetMsg))
	}
	return allErrs
}

// ValidateEventV1Update validates an update made through events.k8s.io/v1: only the series (and
// metadata) of an event may change.
func ValidateEventV1Update(ev, old *corev1.Event) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ev.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateEventCompat(ev)...)
	if !equality.Semantic.DeepEqual(ev.Series, old.Series) {
		allErrs = append(allErrs, validateEventSeries(ev)...)
	}
	for _, f := range []struct {
		name     string
		new, old any
	}{
		{"involvedObject", ev.InvolvedObject, old.InvolvedObject},
		{"reason", ev.Reason, old.Reason},
		{"message", ev.Message, old.Message},
		{"source", ev.Source, old.Source},
		{"firstTimestamp", ev.FirstTimestamp, old.FirstTimestamp},
		{"lastTimestamp", ev.LastTimestamp, old.LastTimestamp},
		{"count", ev.Count, old.Count},
		{"type", ev.Type, old.Type},
		{"eventTime", ev.EventTime, old.EventTime},
		{"action", ev.Action, old.Action},
		{"related", ev.Related, old.Related},
		{"reportingController", ev.ReportingController, old.ReportingController},
		{"reportingInstance", ev.ReportingInstance, old.ReportingInstance},
	} {
		allErrs = append(allErrs, validateImmutableField(f.new, f.old, field.NewPath(f.name))...)
	}
	return allErrs
}

func validateEventSeries(ev *corev1.Event) field.ErrorList {
	if ev.Series == nil {
		return nil
	}
	var allErrs field.ErrorList
	if ev.Series.Count < 2 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("series", "count"), "", "should be at least 2"))
	}
	if ev.Series.LastObservedTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("series", "lastObservedTime"), ""))
	}
	return allErrs
}
