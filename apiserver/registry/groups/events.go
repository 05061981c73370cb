package groups

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiffhq/skiff/apiserver/defaults"
	"github.com/skiffhq/skiff/apiserver/registry"
	"github.com/skiffhq/skiff/apiserver/registry/core"
	corevalidation "github.com/skiffhq/skiff/apiserver/validation/core"
)

// events serves events.k8s.io/v1 Events from the core events' storage, converted, as upstream: an event
// written through one API is read through the other.
func events(factory *registry.StorageFactory) (Group, error) {
	storage := schema.GroupResource{Resource: "events"}
	r := &registry.Resource{
		Resource: "events", Singular: "event", Kind: "Event", ShortNames: []string{"ev"}, Namespaced: true,
		AllowCreateOnUpdate: true,
		New:                 func() runtime.Object { return &corev1.Event{} },
		NewList:             func() runtime.Object { return &corev1.EventList{} },
		Policy:              registry.Typed(defaults.Event, corevalidation.ValidateEvent, corevalidation.ValidateEventUpdate, nil),
		Fields:              core.EventFields,
		StorageResource:     &storage,
	}
	g, built, err := single(factory, eventsv1.SchemeGroupVersion, r)
	if err != nil {
		return Group{}, err
	}
	built["events"].Main.TTLFunc = core.EventTTL
	return g, nil
}

// eventsExample is an event as the events.k8s.io handlers see it, for field selector registration.
func eventsExample() runtime.Object { return &corev1.Event{} }
