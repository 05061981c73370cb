package groups

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiffhq/skiff/apiserver/defaults"
	"github.com/skiffhq/skiff/apiserver/registry"
	autoscalingvalidation "github.com/skiffhq/skiff/apiserver/validation/autoscaling"
)

// autoscaling serves HorizontalPodAutoscalers as v2 (stored) and v1 (converted to and from v2).
func autoscaling(factory *registry.StorageFactory) (Group, error) {
	hpa := func(version string, newObj, newList func() runtime.Object) *registry.Resource {
		storage := schema.GroupResource{Group: autoscalingv2.GroupName, Resource: "horizontalpodautoscalers"}
		return &registry.Resource{
			Group: autoscalingv2.GroupName, Version: version,
			Resource: "horizontalpodautoscalers", Singular: "horizontalpodautoscaler", Kind: "HorizontalPodAutoscaler",
			ShortNames: []string{"hpa"}, Categories: []string{"all"}, Namespaced: true, Status: true, Generation: true,
			New: newObj, NewList: newList,
			Policy: registry.Typed(defaults.HorizontalPodAutoscaler, autoscalingvalidation.ValidateHorizontalPodAutoscaler,
				autoscalingvalidation.ValidateHorizontalPodAutoscalerUpdate,
				autoscalingvalidation.ValidateHorizontalPodAutoscalerStatusUpdate),
			StorageResource: &storage,
			StorageVersion:  "v2",
		}
	}
	// Both versions hand the store v2 objects: the scheme converts v1 requests to the v2 hub.
	newV2 := func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} }
	newV2List := func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} }
	versions := map[string]map[string]rest.Storage{}
	for _, version := range []string{"v2", "v1"} {
		s, err := registry.New(hpa(version, newV2, newV2List), factory)
		if err != nil {
			return Group{}, err
		}
		versions[version] = s.Map("horizontalpodautoscalers")
	}
	return Group{Name: autoscalingv2.GroupName, Versions: versions, Order: []string{"v2", "v1"}}, nil
}
