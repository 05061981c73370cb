// Package autoscaling validates HorizontalPodAutoscalers and the Scale objects of /scale subresources.
//
// HorizontalPodAutoscalers are served as autoscaling/v1 and v2 but handled as v2 objects, so the
// functions here take autoscalingv2 types; the rules and messages follow upstream Kubernetes
// validation of the autoscaling group.
package autoscaling
