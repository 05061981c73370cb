// Package ownership claims a controller's pods as upstream's ControllerRefManager does: the pods it
// controls and the orphans its selector matches are its own (orphans are adopted, with a controller
// owner reference), and pods it controls that no longer match are released. Adoption first re-reads the
// owner past the cache, once per sync, so that a controller being deleted or replaced adopts nothing.
package ownership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Adoption says whether an owner may still adopt: asked once, then remembered for the sync.
type Adoption struct {
	reader client.Reader
	owner  client.Object
	kind   schema.GroupVersionKind
	fresh  client.Object
	done   bool
	err    error
}

// NewAdoption checks owner (of kind) through reader, reading into fresh, an empty object of its type.
func NewAdoption(reader client.Reader, owner client.Object, kind schema.GroupVersionKind, fresh client.Object) *Adoption {
	return &Adoption{reader: reader, owner: owner, kind: kind, fresh: fresh}
}

// Allowed returns nil if the owner is still there, the same object, and not being deleted.
func (a *Adoption) Allowed(ctx context.Context) error {
	if a.done {
		return a.err
	}
	a.done = true
	o := a.owner
	switch err := a.reader.Get(ctx, client.ObjectKeyFromObject(o), a.fresh); {
	case err != nil:
		a.err = err
	case a.fresh.GetUID() != o.GetUID():
		a.err = fmt.Errorf("original %s %s/%s is gone: got uid %s, wanted %s", a.kind.Kind, o.GetNamespace(), o.GetName(), a.fresh.GetUID(), o.GetUID())
	case a.fresh.GetDeletionTimestamp() != nil:
		a.err = fmt.Errorf("%s/%s has just been deleted at %v", o.GetNamespace(), o.GetName(), a.fresh.GetDeletionTimestamp())
	}
	return a.err
}

// PodClaim says which pods a controller claims.
type PodClaim struct {
	Client client.Client
	// Owner is the controller, of Kind.
	Owner client.Object
	Kind  schema.GroupVersionKind
	// Selector and, if set, Member (more conditions, like a StatefulSet's pod names) say which pods match.
	Selector labels.Selector
	Member   func(*corev1.Pod) bool
	// OwnerIndex is the field index of pods by controller UID.
	OwnerIndex string
	Adoption   *Adoption
}

// Claim returns the pods the owner controls, after adopting the matching orphans and releasing its
// pods that no longer match. Neither happens while the owner is being deleted.
func (c PodClaim) Claim(ctx context.Context) ([]*corev1.Pod, error) {
	o := c.Owner
	var owned, matching corev1.PodList
	if err := c.Client.List(ctx, &owned, client.InNamespace(o.GetNamespace()), client.MatchingFields{c.OwnerIndex: string(o.GetUID())}); err != nil {
		return nil, fmt.Errorf("list pods of %s %s/%s: %w", c.Kind.Kind, o.GetNamespace(), o.GetName(), err)
	}
	if err := c.Client.List(ctx, &matching, client.InNamespace(o.GetNamespace()), client.MatchingLabelsSelector{Selector: c.Selector}); err != nil {
		return nil, fmt.Errorf("list pods of %s %s/%s: %w", c.Kind.Kind, o.GetNamespace(), o.GetName(), err)
	}
	deleting := o.GetDeletionTimestamp() != nil
	seen := map[types.UID]bool{}
	var pods []*corev1.Pod
	var errs []error
	for _, list := range [][]corev1.Pod{owned.Items, matching.Items} {
		for i := range list {
			pod := &list[i]
			if seen[pod.UID] {
				continue
			}
			seen[pod.UID] = true
			match := c.Selector.Matches(labels.Set(pod.Labels)) && (c.Member == nil || c.Member(pod))
			ref := metav1.GetControllerOfNoCopy(pod)
			switch {
			case ref != nil && ref.UID != o.GetUID():
			case ref != nil && match:
				pods = append(pods, pod)
			case ref != nil:
				if deleting {
					continue
				}
				err := patchOwner(ctx, c.Client, pod.DeepCopy(), map[string]any{"$patch": "delete", "uid": o.GetUID()})
				if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
					errs = append(errs, fmt.Errorf("release pod %s/%s: %w", pod.Namespace, pod.Name, err))
				}
			case deleting || !match || pod.DeletionTimestamp != nil:
			default:
				if err := c.Adoption.Allowed(ctx); err != nil {
					errs = append(errs, fmt.Errorf("adopt pod %s: %w", pod.Name, err))
					continue
				}
				adopted := pod.DeepCopy()
				switch err := patchOwner(ctx, c.Client, adopted, metav1.NewControllerRef(o, c.Kind)); {
				case apierrors.IsNotFound(err):
				case err != nil:
					errs = append(errs, fmt.Errorf("adopt pod %s/%s: %w", pod.Namespace, pod.Name, err))
				default:
					pods = append(pods, adopted)
				}
			}
		}
	}
	return pods, errors.Join(errs...)
}

// patchOwner adds (or, with a "$patch": "delete" directive, removes) an owner reference of pod, on
// condition that pod is still the object of that UID.
func patchOwner(ctx context.Context, c client.Client, pod *corev1.Pod, ref any) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": []any{ref}, "uid": pod.UID}})
	if err != nil {
		return err
	}
	return c.Patch(ctx, pod, client.RawPatch(types.StrategicMergePatchType, patch))
}
