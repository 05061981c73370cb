// Package conversion converts between the API versions skiff serves for one stored type.
//
// skiff stores every resource in one k8s.io/api version and has no internal versions of its own, so
// conversion is needed only where a resource is served in two shapes: autoscaling/v1 HorizontalPodAutoscalers
// are stored as autoscaling/v2, and events.k8s.io/v1 Events are stored as core/v1 Events. AddToScheme
// registers both pairs (and their lists) with a runtime.Scheme, so the API handlers convert requests and
// responses through scheme.Convert and scheme.ConvertToVersion.
//
// The conversions follow upstream's (k8s.io/kubernetes pkg/apis/autoscaling/v1 and pkg/apis/events/v1),
// with the same sharing rules as its generated conversions: the output may share memory with the input and
// the input is never changed, so a caller that needs an independent copy uses ConvertToVersion, which
// copies first. TypeMeta is left to the scheme, which sets the target's kind.
package conversion
