package conversion

import (
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
)

// AddToScheme registers the conversions between autoscaling/v1 and autoscaling/v2 HorizontalPodAutoscalers
// and between events.k8s.io/v1 and core/v1 Events, in both directions, for objects and lists.
func AddToScheme(s *runtime.Scheme) error {
	for _, add := range []func(*runtime.Scheme) error{
		pair(hpaV2ToV1),
		pair(hpaV1ToV2),
		pair(hpaListV2ToV1),
		pair(hpaListV1ToV2),
		pair(eventToCore),
		pair(eventFromCore),
		pair(eventListToCore),
		pair(eventListFromCore),
	} {
		if err := add(s); err != nil {
			return err
		}
	}
	return nil
}

// pair registers a typed conversion function for the types of its arguments.
func pair[In, Out any](fn func(*In, *Out) error) func(*runtime.Scheme) error {
	return func(s *runtime.Scheme) error {
		return s.AddConversionFunc((*In)(nil), (*Out)(nil), func(in, out any, _ conversion.Scope) error {
			return fn(in.(*In), out.(*Out))
		})
	}
}
