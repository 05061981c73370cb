package registry

import (
	"context"
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiffhq/skiff/apiserver/scheme"
)

// strategy is the create, update and delete policy of a resource's main endpoint.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	r *Resource
}

func newStrategy(r *Resource) *strategy {
	return &strategy{ObjectTyper: scheme.Scheme, NameGenerator: names.SimpleNameGenerator, r: r}
}

func (s *strategy) NamespaceScoped() bool { return s.r.Namespaced }

func (s *strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	switch {
	case s.r.ResetOnCreate != nil:
		s.r.ResetOnCreate(obj)
	case s.r.Status:
		setField(obj, "Status", reflect.Value{})
	}
	if s.r.Generation {
		if m, err := meta.Accessor(obj); err == nil {
			m.SetGeneration(1)
		}
	}
	if s.r.Policy.Default != nil {
		s.r.Policy.Default(obj)
	}
	if s.r.Hooks.PrepareForCreate != nil {
		s.r.Hooks.PrepareForCreate(ctx, obj)
	}
}

func (s *strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	if s.r.Status {
		setField(obj, "Status", topField(old, "Status"))
	}
	if s.r.Policy.Default != nil {
		s.r.Policy.Default(obj)
	}
	if s.r.Generation {
		m, err1 := meta.Accessor(obj)
		o, err2 := meta.Accessor(old)
		if err1 == nil && err2 == nil {
			generation := o.GetGeneration()
			if desiredStateChanged(obj, old) {
				generation++
			}
			m.SetGeneration(generation)
		}
	}
	if s.r.Hooks.PrepareForUpdate != nil {
		s.r.Hooks.PrepareForUpdate(ctx, obj, old)
	}
}

func (s *strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	if s.r.Policy.Validate == nil {
		return nil
	}
	return s.r.Policy.Validate(obj)
}

func (s *strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	if s.r.Policy.ValidateUpdate == nil {
		return nil
	}
	return s.r.Policy.ValidateUpdate(obj, old)
}

func (s *strategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string { return nil }

func (s *strategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

func (s *strategy) Canonicalize(obj runtime.Object) {}

func (s *strategy) AllowCreateOnUpdate(ctx context.Context) bool { return s.r.AllowCreateOnUpdate }

func (s *strategy) AllowUnconditionalUpdate(ctx context.Context) bool { return true }

// GetResetFields names the fields the main endpoint ignores, so server-side apply does not claim them.
func (s *strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	if !s.r.Status {
		return nil
	}
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.r.GroupVersion().String()): fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

// statusStrategy is the update policy of /status: only the status changes.
type statusStrategy struct {
	*strategy
}

func (s statusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	// Everything but metadata and status comes from the stored object.
	v, o := reflect.ValueOf(obj).Elem(), reflect.ValueOf(old).Elem()
	for i := range v.NumField() {
		switch v.Type().Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
		default:
			v.Field(i).Set(o.Field(i))
		}
	}
	// metadata.generation follows the spec only.
	if m, err := meta.Accessor(obj); err == nil {
		if om, err := meta.Accessor(old); err == nil {
			m.SetGeneration(om.GetGeneration())
		}
	}
}

func (s statusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	if s.r.Policy.ValidateStatusUpdate == nil {
		return nil
	}
	return s.r.Policy.ValidateStatusUpdate(obj, old)
}

func (s statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.r.GroupVersion().String()): fieldpath.NewSet(fieldpath.MakePathOrDie("spec")),
	}
}

// topField is the value of the top-level struct field name of obj, or an invalid Value when there is none.
// desiredStateChanged says whether an update changes what metadata.generation counts: the spec, or for
// kinds without one (EndpointSlice), every top-level field but the type and object metadata.
func desiredStateChanged(obj, old runtime.Object) bool {
	if spec := topField(obj, "Spec"); spec.IsValid() {
		return !equality.Semantic.DeepEqual(spec.Interface(), topField(old, "Spec").Interface())
	}
	v, ov := reflect.ValueOf(obj).Elem(), reflect.ValueOf(old).Elem()
	for i := 0; i < v.NumField(); i++ {
		switch v.Type().Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !equality.Semantic.DeepEqual(v.Field(i).Interface(), ov.Field(i).Interface()) {
			return true
		}
	}
	return false
}

func topField(obj runtime.Object, name string) reflect.Value {
	return reflect.ValueOf(obj).Elem().FieldByName(name)
}

// setField sets the top-level struct field name of obj to value, or to its zero value when value is invalid.
func setField(obj runtime.Object, name string, value reflect.Value) {
	f := topField(obj, name)
	if !f.IsValid() {
		return
	}
	if !value.IsValid() {
		f.Set(reflect.Zero(f.Type()))
		return
	}
	f.Set(value)
}

// gracefulStrategy deletes gracefully: objects are marked and wait out a grace period.
type gracefulStrategy struct {
	*strategy
}

func (s gracefulStrategy) CheckGracefulDelete(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool {
	return s.r.Hooks.CheckGracefulDelete(ctx, obj, options)
}
