package conversion

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
)

// eventToCore converts an events.k8s.io/v1 Event to the core/v1 Event it is stored as. The two carry the
// same information under different names (note is message, regarding is involvedObject, deprecatedSource is
// source, ...), so the conversion loses nothing either way.
func eventToCore(in *eventsv1.Event, out *corev1.Event) error {
	out.ObjectMeta = in.ObjectMeta
	out.InvolvedObject = in.Regarding
	out.Reason = in.Reason
	out.Message = in.Note
	out.Source = in.DeprecatedSource
	out.FirstTimestamp = in.DeprecatedFirstTimestamp
	out.LastTimestamp = in.DeprecatedLastTimestamp
	out.Count = in.DeprecatedCount
	out.Type = in.Type
	out.EventTime = in.EventTime
	out.Series = (*corev1.EventSeries)(in.Series)
	out.Action = in.Action
	out.Related = in.Related
	out.ReportingController = in.ReportingController
	out.ReportingInstance = in.ReportingInstance
	return nil
}

// eventFromCore converts a stored core/v1 Event to events.k8s.io/v1.
func eventFromCore(in *corev1.Event, out *eventsv1.Event) error {
	out.ObjectMeta = in.ObjectMeta
	out.EventTime = in.EventTime
	out.Series = (*eventsv1.EventSeries)(in.Series)
	out.ReportingController = in.ReportingController
	out.ReportingInstance = in.ReportingInstance
	out.Action = in.Action
	out.Reason = in.Reason
	out.Regarding = in.InvolvedObject
	out.Related = in.Related
	out.Note = in.Message
	out.Type = in.Type
	out.DeprecatedSource = in.Source
	out.DeprecatedFirstTimestamp = in.FirstTimestamp
	out.DeprecatedLastTimestamp = in.LastTimestamp
	out.DeprecatedCount = in.Count
	return nil
}

func eventListToCore(in *eventsv1.EventList, out *corev1.EventList) error {
	out.ListMeta = in.ListMeta
	out.Items = nil
	if in.Items != nil {
		out.Items = make([]corev1.Event, len(in.Items))
		for i := range in.Items {
			if err := eventToCore(&in.Items[i], &out.Items[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func eventListFromCore(in *corev1.EventList, out *eventsv1.EventList) error {
	out.ListMeta = in.ListMeta
	out.Items = nil
	if in.Items != nil {
		out.Items = make([]eventsv1.Event, len(in.Items))
		for i := range in.Items {
			if err := eventFromCore(&in.Items[i], &out.Items[i]); err != nil {
				return err
			}
		}
	}
	return nil
}
