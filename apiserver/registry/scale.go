package registry

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Scale says how a resource's /scale reads and writes its objects.
type Scale struct {
	// Read returns the desired and current replicas and the label selector of obj.
	Read func(obj runtime.Object) (spec, status int32, selector string)
	// Write sets the desired replicas of obj.
	Write func(obj runtime.Object, replicas int32)
}

// ScaleREST serves /scale: the autoscaling/v1 Scale view of a replicated resource.
type ScaleREST struct {
	store *genericregistry.Store
	scale Scale
	gv    schema.GroupVersion
}

var (
	_ rest.Getter                   = &ScaleREST{}
	_ rest.Updater                  = &ScaleREST{}
	_ rest.Patcher                  = &ScaleREST{}
	_ rest.GroupVersionKindProvider = &ScaleREST{}
)

// NewScale returns the /scale storage of the resource served by main.
func NewScale(main *REST, r *Resource, scale Scale) *ScaleREST {
	return &ScaleREST{store: main.Store, scale: scale, gv: r.GroupVersion()}
}

// GroupVersionKind is autoscaling/v1 Scale whatever group the resource is in.
func (r *ScaleREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return autoscalingv1.SchemeGroupVersion.WithKind("Scale")
}

// New makes an empty Scale.
func (r *ScaleREST) New() runtime.Object { return &autoscalingv1.Scale{} }

// Destroy releases nothing: the main endpoint owns the store.
func (r *ScaleREST) Destroy() {}

// Get returns the Scale of the object.
func (r *ScaleREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.store.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	return r.toScale(obj)
}

// Update sets the object's desired replicas from the Scale given.
func (r *ScaleREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	info := &scaleUpdate{r: r, request: objInfo}
	obj, _, err := r.store.Update(ctx, name, info,
		func(ctx context.Context, obj runtime.Object) error {
			s, err := r.toScale(obj)
			if err != nil {
				return err
			}
			return createValidation(ctx, s)
		},
		func(ctx context.Context, obj, old runtime.Object) error {
			s, err := r.toScale(obj)
			if err != nil {
				return err
			}
			olds, err := r.toScale(old)
			if err != nil {
				return err
			}
			return updateValidation(ctx, s, olds)
		},
		false, options)
	if err != nil {
		return nil, false, err
	}
	s, err := r.toScale(obj)
	return s, false, err
}

func (r *ScaleREST) toScale(obj runtime.Object) (*autoscalingv1.Scale, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	spec, status, selector := r.scale.Read(obj)
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name:              m.GetName(),
			Namespace:         m.GetNamespace(),
			UID:               m.GetUID(),
			ResourceVersion:   m.GetResourceVersion(),
			CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}, nil
}

// scaleUpdate applies a Scale to the stored object. Field ownership of spec.replicas moves between the
// object and its Scale as upstream's ScaleHandler does, so `kubectl scale` and apply agree on owners.
type scaleUpdate struct {
	r       *ScaleREST
	request rest.UpdatedObjectInfo
}

func (i *scaleUpdate) Preconditions() *metav1.Preconditions { return i.request.Preconditions() }

func (i *scaleUpdate) UpdatedObject(ctx context.Context, oldObj runtime.Object) (runtime.Object, error) {
	obj := oldObj.DeepCopyObject()
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	handler := managedfields.NewScaleHandler(m.GetManagedFields(), i.r.gv, managedfields.ResourcePathMappings{
		i.r.gv.String(): fieldpath.MakePathOrDie("spec", "replicas"),
	})
	old, err := i.r.toScale(obj)
	if err != nil {
		return nil, err
	}
	if old.ManagedFields, err = handler.ToSubresource(); err != nil {
		return nil, err
	}
	updated, err := i.request.UpdatedObject(ctx, old)
	if err != nil {
		return nil, err
	}
	scale, ok := updated.(*autoscalingv1.Scale)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("expected a Scale, got %T", updated))
	}
	if errs := validateScale(scale); len(errs) > 0 {
		return nil, apierrors.NewInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), scale.Name, errs)
	}
	i.r.scale.Write(obj, scale.Spec.Replicas)
	if scale.ResourceVersion != "" {
		// The client's resourceVersion is a precondition of the update.
		m.SetResourceVersion(scale.ResourceVersion)
	}
	entries, err := handler.ToParent(scale.ManagedFields)
	if err != nil {
		return nil, err
	}
	m.SetManagedFields(entries)
	return obj, nil
}

func validateScale(s *autoscalingv1.Scale) field.ErrorList {
	if s.Spec.Replicas < 0 {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), s.Spec.Replicas, "must be greater than or equal to 0")}
	}
	return nil
}
