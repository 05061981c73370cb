package registry

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one served resource.
type Resource struct {
	// Group and Version are the API group version the resource is served in; Resource is its plural name.
	Group, Version, Resource string
	Kind, Singular           string
	ShortNames, Categories   []string
	Namespaced               bool
	New, NewList             func() runtime.Object
	// Policy defaults and validates the objects.
	Policy Policy
	// Status says the resource has a status subresource: writes to the resource keep the old status,
	// writes to /status keep everything else.
	Status bool
	// Generation says metadata.generation counts changes of spec, as workload controllers expect.
	Generation bool
	// AllowCreateOnUpdate lets a PUT create the object, as upstream allows for a few kinds.
	AllowCreateOnUpdate bool
	// Fields gives the fields a list may select on beyond metadata.name and metadata.namespace.
	Fields func(obj runtime.Object) fields.Set
	// StorageResource is where the objects are kept when it is not Group/Resource itself (events.k8s.io
	// events live with core events).
	StorageResource *schema.GroupResource
	// StorageVersion is the version of StorageResource's group the objects are encoded in (default v1).
	StorageVersion string
	// ResetOnCreate clears what a client may not set at creation (usually the status).
	ResetOnCreate func(obj runtime.Object)
	// Hooks are the resource's own additions to create, update and delete.
	Hooks Hooks
}

// GroupResource is the resource's group and plural name.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.Group, Resource: r.Resource}
}

// GroupVersion is the API group version the resource is served in.
func (r *Resource) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: r.Group, Version: r.Version}
}

// Hooks let a resource act around the generic store's writes.
type Hooks struct {
	// PrepareForCreate runs after the object's defaults and before validation.
	PrepareForCreate func(ctx context.Context, obj runtime.Object)
	// PrepareForUpdate runs on updates of the main resource, before validation.
	PrepareForUpdate func(ctx context.Context, obj, old runtime.Object)
	// CheckGracefulDelete, when set, makes deletion graceful: it sets the grace period in options and
	// says whether the object is to be marked for deletion rather than removed at once.
	CheckGracefulDelete func(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool
	// ShouldDeleteDuringUpdate, when set, replaces the store's rule for deleting an object whose last
	// finalizer an update removes; it applies to the main resource and its subresources alike.
	ShouldDeleteDuringUpdate func(ctx context.Context, key string, obj, existing runtime.Object) bool
}

// Policy is the defaulting and validation of one kind. Nil functions do nothing.
type Policy struct {
	Default              func(obj runtime.Object)
	Validate             func(obj runtime.Object) field.ErrorList
	ValidateUpdate       func(obj, old runtime.Object) field.ErrorList
	ValidateStatusUpdate func(obj, old runtime.Object) field.ErrorList
}

// Typed makes the Policy of objects of type T from typed functions; any may be nil.
func Typed[T runtime.Object](
	defaults func(T),
	validate func(T) field.ErrorList,
	validateUpdate func(obj, old T) field.ErrorList,
	validateStatusUpdate func(obj, old T) field.ErrorList,
) Policy {
	var p Policy
	if defaults != nil {
		p.Default = func(obj runtime.Object) { defaults(obj.(T)) }
	}
	if validate != nil {
		p.Validate = func(obj runtime.Object) field.ErrorList { return validate(obj.(T)) }
	}
	if validateUpdate != nil {
		p.ValidateUpdate = func(obj, old runtime.Object) field.ErrorList { return validateUpdate(obj.(T), old.(T)) }
	}
	if validateStatusUpdate != nil {
		p.ValidateStatusUpdate = func(obj, old runtime.Object) field.ErrorList {
			return validateStatusUpdate(obj.(T), old.(T))
		}
	}
	return p
}
