// Package history keeps the revision history of a workload controller as ControllerRevisions, the way
// upstream's StatefulSet and DaemonSet controllers do (k8s.io/kubernetes pkg/controller/history).
//
// A revision records one state of its owner's pod template as a strategic merge patch,
// {"spec":{"template":{...,"$patch":"replace"}}}, that restores the template when applied to the owner:
// `kubectl rollout undo` applies it exactly so, and `kubectl rollout history` lists the revisions an owner
// controls, by revision number. A revision is named <owner>-<hash>, the hash taken over the patch and
// the owner's collision count, and carries the hash in the label controller.kubernetes.io/hash. When the
// owner's template returns to an earlier state, the existing revision is reused and renumbered rather
// than recorded twice, and revisions no pod uses any more are deleted beyond the owner's
// revisionHistoryLimit, oldest first.
package history

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// HashLabel is the label of a ControllerRevision that holds the hash of its data, as upstream.
const HashLabel = "controller.kubernetes.io/hash"

// maxCollisions bounds the names Create tries: collisions of a 32-bit hash are rare, and a long run of
// them means something else makes revisions under the owner's names.
const maxCollisions = 100

// maxPrefix keeps a revision name within the 253 characters of a DNS subdomain: the owner's name is cut
// to this length before "-<hash>" is appended.
const maxPrefix = 223

// Name is the name of the revision of owner prefix with the given hash.
func Name(prefix, hash string) string {
	if len(prefix) > maxPrefix {
		prefix = prefix[:maxPrefix]
	}
	return prefix + "-" + hash
}

// Hash is the FNV-32 hash of data and, when given, the collision count, in the encoding upstream uses
// for names (no vowels, so no words).
func Hash(data []byte, collisionCount *int32) string {
	h := fnv.New32()
	h.Write(data)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// TemplatePatch is the strategic merge patch that restores obj's spec.template: obj's template, marked
// to replace the whole template. obj is a workload (a StatefulSet or a DaemonSet); kubectl builds the
// same bytes to tell whether a revision matches the live object.
func TemplatePatch(obj any) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode %T: %w", obj, err)
	}
	spec, _ := raw["spec"].(map[string]any)
	template, _ := spec["template"].(map[string]any)
	if template == nil {
		return nil, fmt.Errorf("%T has no spec.template", obj)
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
}

// Apply returns a copy of obj with the state recorded in rev restored: rev's patch applied to obj.
func Apply[T any](obj *T, rev *appsv1.ControllerRevision) (*T, error) {
	original, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	patched, err := strategicpatch.StrategicMergePatch(original, rev.Data.Raw, new(T))
	if err != nil {
		return nil, fmt.Errorf("apply revision %s: %w", rev.Name, err)
	}
	restored := new(T)
	if err := json.Unmarshal(patched, restored); err != nil {
		return nil, fmt.Errorf("decode %T restored from revision %s: %w", obj, rev.Name, err)
	}
	return restored, nil
}

// New returns a revision of owner recording data with the given revision number: named and labelled
// after the hash of data and collisionCount, labelled with templateLabels (so the owner's selector
// finds it), annotated with the owner's annotations (so `kubectl rollout history` shows their
// change-cause), and controlled by owner.
func New(owner metav1.Object, ownerKind schema.GroupVersionKind, templateLabels map[string]string, data []byte,
	revision int64, collisionCount *int32) *appsv1.ControllerRevision {
	hash := Hash(data, collisionCount)
	lbls := make(map[string]string, len(templateLabels)+1)
	for k, v := range templateLabels {
		lbls[k] = v
	}
	lbls[HashLabel] = hash
	var annotations map[string]string
	if len(owner.GetAnnotations()) > 0 {
		annotations = make(map[string]string, len(owner.GetAnnotations()))
		for k, v := range owner.GetAnnotations() {
			annotations[k] = v
		}
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            Name(owner.GetName(), hash),
			Namespace:       owner.GetNamespace(),
			Labels:          lbls,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, ownerKind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}
}

// Sort orders revisions by revision number, then by creation, then by name.
func Sort(revisions []*appsv1.ControllerRevision) {
	sort.SliceStable(revisions, func(i, j int) bool {
		a, b := revisions[i], revisions[j]
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// Equal tells whether two revisions record the same state. Hashes are not compared: the same state
// recorded under two collision counts has two hashes.
func Equal(a, b *appsv1.ControllerRevision) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Data.Raw, b.Data.Raw)
}

// FindEqual returns the revisions that record the same state as needle, in their order.
func FindEqual(revisions []*appsv1.ControllerRevision, needle *appsv1.ControllerRevision) []*appsv1.ControllerRevision {
	var equal []*appsv1.ControllerRevision
	for _, rev := range revisions {
		if Equal(rev, needle) {
			equal = append(equal, rev)
		}
	}
	return equal
}

// Next is the revision number after the highest of revisions: 1 for none.
func Next(revisions []*appsv1.ControllerRevision) int64 {
	var highest int64
	for _, rev := range revisions {
		highest = max(highest, rev.Revision)
	}
	return highest + 1
}

// Expired returns the revisions to delete so that at most limit revisions that are not live remain:
// the oldest of those not live. revisions must be sorted; a negative limit keeps everything.
func Expired(revisions []*appsv1.ControllerRevision, live func(*appsv1.ControllerRevision) bool, limit int32) []*appsv1.ControllerRevision {
	if limit < 0 {
		return nil
	}
	var old []*appsv1.ControllerRevision
	for _, rev := range revisions {
		if !live(rev) {
			old = append(old, rev)
		}
	}
	if len(old) <= int(limit) {
		return nil
	}
	return old[:len(old)-int(limit)]
}

// Store reads and writes the revisions of owners through the API. Reads go through Client, which may be
// a cache: writes tolerate its lag.
type Store struct {
	Client client.Client
}

// List returns the revisions in owner's namespace that selector matches and that owner controls or no
// one does (orphans, which owner may adopt).
func (s Store) List(ctx context.Context, owner metav1.Object, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	var list appsv1.ControllerRevisionList
	if err := s.Client.List(ctx, &list, client.InNamespace(owner.GetNamespace()), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, fmt.Errorf("list controller revisions of %s/%s: %w", owner.GetNamespace(), owner.GetName(), err)
	}
	var revisions []*appsv1.ControllerRevision
	for i := range list.Items {
		rev := &list.Items[i]
		if ref := metav1.GetControllerOfNoCopy(rev); ref == nil || ref.UID == owner.GetUID() {
			revisions = append(revisions, rev)
		}
	}
	return revisions, nil
}

// Create creates rev for owner. When another revision already has its name, Create returns that one if
// it records the same state (created earlier, not yet seen by a lagging cache); otherwise the name is a
// hash collision, and Create increments *collisionCount and tries the next name. The caller keeps the
// count in the owner's status so that names stay stable.
func (s Store) Create(ctx context.Context, owner metav1.Object, rev *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	if collisionCount == nil {
		return nil, fmt.Errorf("create revision of %s/%s: no collision count", owner.GetNamespace(), owner.GetName())
	}
	for range maxCollisions {
		candidate := rev.DeepCopy()
		hash := Hash(rev.Data.Raw, collisionCount)
		candidate.Name = Name(owner.GetName(), hash)
		candidate.Namespace = owner.GetNamespace()
		if candidate.Labels == nil {
			candidate.Labels = map[string]string{}
		}
		candidate.Labels[HashLabel] = hash
		err := s.Client.Create(ctx, candidate)
		if err == nil {
			return candidate, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create controller revision %s/%s: %w", candidate.Namespace, candidate.Name, err)
		}
		existing := &appsv1.ControllerRevision{}
		if err := s.Client.Get(ctx, client.ObjectKeyFromObject(candidate), existing); err != nil {
			if apierrors.IsNotFound(err) {
				// Known to the server, not yet to the cache: the next sync sees it.
				return nil, fmt.Errorf("controller revision %s/%s exists but is not yet visible", candidate.Namespace, candidate.Name)
			}
			return nil, fmt.Errorf("get controller revision %s/%s: %w", candidate.Namespace, candidate.Name, err)
		}
		if bytes.Equal(existing.Data.Raw, candidate.Data.Raw) {
			return existing, nil
		}
		*collisionCount++
	}
	return nil, fmt.Errorf("create revision of %s/%s: %d names in a row taken by other revisions", owner.GetNamespace(), owner.GetName(), maxCollisions)
}

// SetRevision gives rev the revision number n, retrying on conflicts.
func (s Store) SetRevision(ctx context.Context, rev *appsv1.ControllerRevision, n int64) (*appsv1.ControllerRevision, error) {
	current := rev.DeepCopy()
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if current.Revision == n {
			return nil
		}
		current.Revision = n
		err := s.Client.Update(ctx, current)
		if apierrors.IsConflict(err) {
			fresh := &appsv1.ControllerRevision{}
			if getErr := s.Client.Get(ctx, client.ObjectKeyFromObject(rev), fresh); getErr == nil {
				current = fresh
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("renumber controller revision %s/%s to %d: %w", rev.Namespace, rev.Name, n, err)
	}
	return current, nil
}

// Delete deletes rev; one already gone is not an error.
func (s Store) Delete(ctx context.Context, rev *appsv1.ControllerRevision) error {
	err := s.Client.Delete(ctx, rev, client.Preconditions{UID: &rev.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete controller revision %s/%s: %w", rev.Namespace, rev.Name, err)
	}
	return nil
}

// Adopt makes owner the controller of the orphan rev. The patch names rev's UID, so a revision deleted
// and recreated under the same name in the meantime is not adopted by mistake.
func (s Store) Adopt(ctx context.Context, owner metav1.Object, ownerKind schema.GroupVersionKind, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	if ref := metav1.GetControllerOfNoCopy(rev); ref != nil {
		return nil, fmt.Errorf("adopt controller revision %s/%s: already controlled by %s %s", rev.Namespace, rev.Name, ref.Kind, ref.Name)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(owner, ownerKind)},
		"uid":             rev.UID,
	}})
	if err != nil {
		return nil, err
	}
	adopted := rev.DeepCopy()
	if err := s.Client.Patch(ctx, adopted, client.RawPatch(types.StrategicMergePatchType, patch)); err != nil {
		return nil, fmt.Errorf("adopt controller revision %s/%s: %w", rev.Namespace, rev.Name, err)
	}
	return adopted, nil
}

// Claim returns owner's revisions, sorted, after adopting the orphans selector matches. mayAdopt is
// asked before each adoption (upstream re-reads the owner to be sure it is not being deleted).
func (s Store) Claim(ctx context.Context, owner metav1.Object, ownerKind schema.GroupVersionKind, selector labels.Selector,
	mayAdopt func(context.Context) error) ([]*appsv1.ControllerRevision, error) {
	revisions, err := s.List(ctx, owner, selector)
	if err != nil {
		return nil, err
	}
	for i, rev := range revisions {
		if metav1.GetControllerOfNoCopy(rev) != nil {
			continue
		}
		if err := mayAdopt(ctx); err != nil {
			return nil, fmt.Errorf("adopt controller revisions: %w", err)
		}
		if revisions[i], err = s.Adopt(ctx, owner, ownerKind, rev); err != nil {
			return nil, err
		}
	}
	Sort(revisions)
	return revisions, nil
}

// Current returns the revision recording data, the owner's present state, given the owner's sorted
// revisions: the newest of them if it already records data; else the newest revision recording data,
// renumbered to come last (the owner went back to an earlier state, as `kubectl rollout undo` does);
// else a new revision. *collisionCount grows if a new revision's name collides.
func (s Store) Current(ctx context.Context, owner metav1.Object, ownerKind schema.GroupVersionKind, templateLabels map[string]string,
	data []byte, revisions []*appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	candidate := New(owner, ownerKind, templateLabels, data, Next(revisions), collisionCount)
	equal := FindEqual(revisions, candidate)
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == revisions[len(revisions)-1]:
		return revisions[len(revisions)-1], nil
	case len(equal) > 0:
		return s.SetRevision(ctx, equal[len(equal)-1], candidate.Revision)
	default:
		return s.Create(ctx, owner, candidate, collisionCount)
	}
}
