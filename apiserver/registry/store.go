package registry

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiffhq/skiff/apiserver/printers"
)

// REST is the storage of a resource's main endpoint.
type REST struct {
	*genericregistry.Store
	shortNames, categories []string
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// ShortNames are the resource's abbreviations for kubectl (discovery).
func (r *REST) ShortNames() []string { return r.shortNames }

// Categories are the groupings the resource belongs to, such as "all".
func (r *REST) Categories() []string { return r.categories }

// Storage is what New builds for a resource.
type Storage struct {
	// Main serves the resource itself.
	Main *REST
	// Status serves /status when the resource has one.
	Status *StatusREST
}

// Map returns the storage keyed as an APIGroupInfo wants it ("pods", "pods/status").
func (s *Storage) Map(resource string) map[string]rest.Storage {
	m := map[string]rest.Storage{resource: s.Main}
	if s.Status != nil {
		m[resource+"/status"] = s.Status
	}
	return m
}

// New builds the storage of r, its objects kept where the factory says.
func New(r *Resource, factory *StorageFactory) (*Storage, error) {
	gr := r.GroupResource()
	storageResource, storageVersion := gr, r.GroupVersion()
	if r.StorageResource != nil {
		storageResource = *r.StorageResource
		storageVersion = schema.GroupVersion{Group: storageResource.Group, Version: "v1"}
		if r.StorageVersion != "" {
			storageVersion.Version = r.StorageVersion
		}
	}
	opts, err := factory.RESTOptions(storageResource, storageVersion, gr.Group)
	if err != nil {
		return nil, err
	}
	s := newStrategy(r)
	store := &genericregistry.Store{
		NewFunc:                   r.New,
		NewListFunc:               r.NewList,
		DefaultQualifiedResource:  gr,
		SingularQualifiedResource: schema.GroupResource{Group: r.Group, Resource: r.Singular},
		CreateStrategy:            s,
		UpdateStrategy:            s,
		DeleteStrategy:            s,
		ResetFieldsStrategy:       s,
		TableConvertor:            printers.For(gr),
	}
	if r.Hooks.CheckGracefulDelete != nil {
		store.DeleteStrategy = gracefulStrategy{s}
	}
	if r.Hooks.ShouldDeleteDuringUpdate != nil {
		store.ShouldDeleteDuringUpdate = r.Hooks.ShouldDeleteDuringUpdate
	}
	attrs := attrFunc(r)
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: opts, AttrFunc: attrs}); err != nil {
		return nil, fmt.Errorf("storage of %s: %w", gr, err)
	}
	out := &Storage{Main: &REST{Store: store, shortNames: r.ShortNames, categories: r.Categories}}
	if r.Status {
		statusStore := *store
		ss := statusStrategy{s}
		statusStore.UpdateStrategy = ss
		statusStore.ResetFieldsStrategy = ss
		out.Status = &StatusREST{store: &statusStore}
	}
	return out, nil
}

// attrFunc gives the labels and selectable fields of r's objects.
func attrFunc(r *Resource) func(obj runtime.Object) (labels.Set, fields.Set, error) {
	return func(obj runtime.Object) (labels.Set, fields.Set, error) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, nil, err
		}
		fs := fields.Set{"metadata.name": m.GetName()}
		if r.Namespaced {
			fs["metadata.namespace"] = m.GetNamespace()
		}
		if r.Fields != nil {
			for k, v := range r.Fields(obj) {
				fs[k] = v
			}
		}
		return labels.Set(m.GetLabels()), fs, nil
	}
}
