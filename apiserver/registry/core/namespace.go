package core

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"

	"github.com/skiffhq/skiff/apiserver/defaults"
	"github.com/skiffhq/skiff/apiserver/registry"
	validation "github.com/skiffhq/skiff/apiserver/validation/core"
)

// nameLabel is set on every namespace to its name, so selectors can pick namespaces by name.
const nameLabel = "kubernetes.io/metadata.name"

// namespaceStorage is the storage of namespaces: deleting one only marks it Terminating until the
// namespace controller has emptied it and removed its spec.finalizers through /finalize.
type namespaceStorage struct {
	main     *NamespaceREST
	status   *registry.StatusREST
	finalize *FinalizeREST
}

func namespaceResource() *registry.Resource {
	return &registry.Resource{
		Resource: "namespaces", Singular: "namespace", Kind: "Namespace", ShortNames: []string{"ns"},
		New:     func() runtime.Object { return &corev1.Namespace{} },
		NewList: func() runtime.Object { return &corev1.NamespaceList{} },
		Policy: registry.Typed(defaults.Namespace, validation.ValidateNamespace, validation.ValidateNamespaceUpdate,
			validation.ValidateNamespaceStatusUpdate),
		Status: true,
		ResetOnCreate: func(obj runtime.Object) {
			obj.(*corev1.Namespace).Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
		},
		Fields: namespaceFields,
		Hooks: registry.Hooks{
			PrepareForCreate: func(_ context.Context, obj runtime.Object) { labelName(obj.(*corev1.Namespace)) },
			PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
				ns := obj.(*corev1.Namespace)
				// spec.finalizers change only through /finalize.
				ns.Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
				labelName(ns)
			},
			// A terminating namespace whose finalizers are all gone is deleted by the update that removed
			// the last: metadata.finalizers and spec.finalizers both.
			ShouldDeleteDuringUpdate: func(ctx context.Context, key string, obj, existing runtime.Object) bool {
				return genericregistry.ShouldDeleteDuringUpdate(ctx, key, obj, existing) &&
					len(obj.(*corev1.Namespace).Spec.Finalizers) == 0
			},
		},
	}
}

func labelName(ns *corev1.Namespace) {
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[nameLabel] = ns.Name
}

func newNamespaceStorage(r *registry.Resource, factory *registry.StorageFactory) (*namespaceStorage, error) {
	s, err := registry.New(r, factory)
	if err != nil {
		return nil, err
	}
	store := s.Main.Store
	finalizeStore := *store
	finalizeStore.UpdateStrategy = finalizeStrategy{store.UpdateStrategy}
	finalizeStore.ResetFieldsStrategy = nil
	return &namespaceStorage{
		main:     &NamespaceREST{REST: s.Main},
		status:   s.Status,
		finalize: &FinalizeREST{store: &finalizeStore},
	}, nil
}

// NamespaceREST serves namespaces.
type NamespaceREST struct {
	*registry.REST
}

// Delete marks the namespace Terminating; it goes once its spec.finalizers are empty.
func (r *NamespaceREST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	obj, err := r.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	ns := obj.(*corev1.Namespace)
	if options == nil {
		options = metav1.NewDeleteOptions(0)
	}
	if p := options.Preconditions; p != nil {
		if p.UID != nil && *p.UID != ns.UID {
			return nil, false, apierrors.NewConflict(corev1.Resource("namespaces"), name,
				fmt.Errorf("precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, ns.UID))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != ns.ResourceVersion {
			return nil, false, apierrors.NewConflict(corev1.Resource("namespaces"), name,
				fmt.Errorf("precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, ns.ResourceVersion))
		}
	}
	if ns.DeletionTimestamp == nil {
		if deleteValidation != nil {
			if err := deleteValidation(ctx, ns); err != nil {
				return nil, false, err
			}
		}
		key, err := r.KeyFunc(ctx, name)
		if err != nil {
			return nil, false, err
		}
		out := &corev1.Namespace{}
		err = r.Storage.GuaranteedUpdate(ctx, key, out, false, &storage.Preconditions{UID: &ns.UID},
			storage.SimpleUpdate(func(existing runtime.Object) (runtime.Object, error) {
				n := existing.(*corev1.Namespace)
				if n.DeletionTimestamp == nil {
					now := metav1.Now()
					n.DeletionTimestamp = &now
					zero := int64(0)
					n.DeletionGracePeriodSeconds = &zero
				}
				n.Status.Phase = corev1.NamespaceTerminating
				n.Finalizers = propagationFinalizers(n.Finalizers, options)
				return n, nil
			}), len(options.DryRun) > 0, nil)
		if err != nil {
			return nil, false, err
		}
		ns = out
	}
	if len(ns.Spec.Finalizers) > 0 {
		return ns, false, nil
	}
	return r.REST.Delete(ctx, name, deleteValidation, options)
}

// propagationFinalizers adds the garbage collector's finalizer for the propagation policy asked for.
func propagationFinalizers(finalizers []string, options *metav1.DeleteOptions) []string {
	want := ""
	switch {
	case options.PropagationPolicy != nil && *options.PropagationPolicy == metav1.DeletePropagationForeground:
		want = metav1.FinalizerDeleteDependents
	case options.PropagationPolicy != nil && *options.PropagationPolicy == metav1.DeletePropagationOrphan,
		options.OrphanDependents != nil && *options.OrphanDependents:
		want = metav1.FinalizerOrphanDependents
	}
	if want == "" {
		return finalizers
	}
	for _, f := range finalizers {
		if f == want {
			return finalizers
		}
	}
	return append(finalizers, want)
}

// FinalizeREST serves namespaces/finalize: the namespace controller removes spec.finalizers here.
type FinalizeREST struct {
	store *genericregistry.Store
}

var _ rest.Updater = &FinalizeREST{}

// New makes an empty Namespace.
func (r *FinalizeREST) New() runtime.Object { return &corev1.Namespace{} }

// Destroy releases nothing: the namespaces endpoint owns the store.
func (r *FinalizeREST) Destroy() {}

// Update changes the namespace's spec.finalizers and nothing else.
func (r *FinalizeREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

// finalizeStrategy keeps all of a namespace but its spec.finalizers.
type finalizeStrategy struct {
	rest.RESTUpdateStrategy
}

func (s finalizeStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	ns, oldNS := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	finalizers := ns.Spec.Finalizers
	*ns = *oldNS.DeepCopy()
	ns.Spec.Finalizers = finalizers
}

func (s finalizeStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateNamespaceFinalizeUpdate(obj.(*corev1.Namespace), old.(*corev1.Namespace))
}
