package garbagecollector

import (
	"context"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/retry"
)

// resourceFor maps an apiVersion and kind to the resource serving it and whether it is namespaced. An
// unknown kind asks for rediscovery: it may be a custom resource whose CRD just arrived.
func (c *collector) resourceFor(apiVersion, kind string) (schema.GroupVersionResource, bool, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return schema.GroupVersionResource{}, false, fmt.Errorf("map %s %s to a resource: %w", apiVersion, kind, err)
	}
	mapper := c.mapper.Load()
	if mapper == nil {
		return schema.GroupVersionResource{}, false, fmt.Errorf("map %s %s to a resource: resources not discovered yet", apiVersion, kind)
	}
	m, err := (*mapper).RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind}, gv.Version)
	if err != nil {
		c.unknownKind()
		return schema.GroupVersionResource{}, false, fmt.Errorf("map %s %s to a resource: %w", apiVersion, kind, err)
	}
	return m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// client is the metadata client of the object ref names, in its namespace when namespaced.
func (c *collector) client(ref objectRef) (metadata.ResourceInterface, schema.GroupResource, error) {
	resource, namespaced, err := c.resourceFor(ref.APIVersion, ref.Kind)
	if err != nil {
		return nil, schema.GroupResource{}, err
	}
	if !namespaced {
		return c.metadata.Resource(resource), resource.GroupResource(), nil
	}
	return c.metadata.Resource(resource).Namespace(ref.Namespace), resource.GroupResource(), nil
}

// get reads the live metadata of the object ref names, by name: the caller compares UIDs.
func (c *collector) get(ctx context.Context, ref objectRef) (*metav1.PartialObjectMetadata, error) {
	rc, _, err := c.client(ref)
	if err != nil {
		return nil, err
	}
	return rc.Get(ctx, ref.Name, metav1.GetOptions{})
}

// deleteObject deletes ref with policy, only if it is still the object latest describes. When it changed
// since but its ownerReferences did not, the decision still holds and the delete is retried without the
// resourceVersion precondition.
func (c *collector) deleteObject(ctx context.Context, ref objectRef, latest *metav1.PartialObjectMetadata, policy metav1.DeletionPropagation) error {
	rc, gr, err := c.client(ref)
	if err != nil {
		return err
	}
	uid, rv := ref.UID, latest.ResourceVersion
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}, PropagationPolicy: &policy}
	err = rc.Delete(ctx, ref.Name, opts)
	if !apierrors.IsConflict(err) {
		return err
	}
	live, err := rc.Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case err != nil:
		return err
	case live.UID != ref.UID:
		return apierrors.NewNotFound(gr, ref.Name)
	case !reflect.DeepEqual(live.OwnerReferences, latest.OwnerReferences):
		return fmt.Errorf("delete %s: its ownerReferences changed; will look again", ref)
	}
	opts.Preconditions.ResourceVersion = nil
	return rc.Delete(ctx, ref.Name, opts)
}

// patch applies the strategic merge patch smp to ref, or, where the resource does not support strategic
// merge (custom resources), the JSON merge patch merge computes from the live object.
func (c *collector) patch(ctx context.Context, ref objectRef, smp []byte, merge func(latest metav1.Object) ([]byte, error)) error {
	rc, gr, err := c.client(ref)
	if err != nil {
		return err
	}
	_, err = rc.Patch(ctx, ref.Name, types.StrategicMergePatchType, smp, metav1.PatchOptions{})
	if !apierrors.IsUnsupportedMediaType(err) {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		latest, err := rc.Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if latest.UID != ref.UID {
			return apierrors.NewNotFound(gr, ref.Name)
		}
		p, err := merge(latest)
		if err != nil {
			return err
		}
		_, err = rc.Patch(ctx, ref.Name, types.MergePatchType, p, metav1.PatchOptions{})
		return err
	})
}

// removeFinalizer removes finalizer f from the object ref names, if it is still there.
func (c *collector) removeFinalizer(ctx context.Context, ref objectRef, f string) error {
	rc, _, err := c.client(ref)
	if err != nil {
		return err
	}
	err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		latest, err := rc.Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if latest.UID != ref.UID {
			return nil
		}
		p, found, err := removeFinalizerMerge(latest, f)
		if err != nil || !found {
			return err
		}
		_, err = rc.Patch(ctx, ref.Name, types.MergePatchType, p, metav1.PatchOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove finalizer %s from %s: %w", f, ref, err)
	}
	return nil
}
