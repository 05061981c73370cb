package garbagecollector

import (
	"encoding/json"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The collector changes only metadata, through patches that cannot undo anyone else's concurrent work:
// strategic merge patches keyed by owner UID where the resource supports them (built-in types), and
// otherwise JSON merge patches guarded by the resourceVersion they were computed from.

type smpOwnerRef struct {
	Patch              string    `json:"$patch,omitempty"`
	UID                types.UID `json:"uid"`
	BlockOwnerDeletion *bool     `json:"blockOwnerDeletion,omitempty"`
}

type smpMetadata struct {
	OwnerReferences []smpOwnerRef `json:"ownerReferences"`
	// UID makes the patch fail on an object that replaced the one meant: metadata.uid is immutable.
	UID types.UID `json:"uid"`
}

type mergeMetadata struct {
	ResourceVersion string                  `json:"resourceVersion"`
	OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
}

type finalizersMetadata struct {
	ResourceVersion string   `json:"resourceVersion"`
	Finalizers      []string `json:"finalizers"`
}

type patchBody[T any] struct {
	Metadata T `json:"metadata"`
}

// removeOwnersStrategic is a strategic merge patch removing the references to owners from the object
// with uid dependent.
func removeOwnersStrategic(dependent types.UID, owners []types.UID) ([]byte, error) {
	m := smpMetadata{UID: dependent}
	for _, o := range owners {
		m.OwnerReferences = append(m.OwnerReferences, smpOwnerRef{Patch: "delete", UID: o})
	}
	return json.Marshal(patchBody[smpMetadata]{Metadata: m})
}

// removeOwnersMerge is a JSON merge patch of latest keeping all its references but those to owners.
func removeOwnersMerge(latest metav1.Object, owners []types.UID) ([]byte, error) {
	m := mergeMetadata{ResourceVersion: latest.GetResourceVersion()}
	for _, r := range latest.GetOwnerReferences() {
		if !slices.Contains(owners, r.UID) {
			m.OwnerReferences = append(m.OwnerReferences, r)
		}
	}
	return json.Marshal(patchBody[mergeMetadata]{Metadata: m})
}

// unblockOwnersStrategic is a strategic merge patch setting blockOwnerDeletion to false on each of the
// given references of the object with uid dependent.
func unblockOwnersStrategic(dependent types.UID, refs []metav1.OwnerReference) ([]byte, error) {
	m := smpMetadata{UID: dependent}
	f := false
	for _, r := range refs {
		m.OwnerReferences = append(m.OwnerReferences, smpOwnerRef{UID: r.UID, BlockOwnerDeletion: &f})
	}
	return json.Marshal(patchBody[smpMetadata]{Metadata: m})
}

// unblockOwnersMerge is a JSON merge patch of latest with blockOwnerDeletion false on every reference.
func unblockOwnersMerge(latest metav1.Object) ([]byte, error) {
	m := mergeMetadata{ResourceVersion: latest.GetResourceVersion()}
	for _, r := range latest.GetOwnerReferences() {
		if isTrue(r.BlockOwnerDeletion) {
			f := false
			r.BlockOwnerDeletion = &f
		}
		m.OwnerReferences = append(m.OwnerReferences, r)
	}
	return json.Marshal(patchBody[mergeMetadata]{Metadata: m})
}

// removeFinalizerMerge is a JSON merge patch of latest without finalizer f, and whether f was there.
func removeFinalizerMerge(latest metav1.Object, f string) ([]byte, bool, error) {
	if !slices.Contains(latest.GetFinalizers(), f) {
		return nil, false, nil
	}
	m := finalizersMetadata{ResourceVersion: latest.GetResourceVersion()}
	for _, x := range latest.GetFinalizers() {
		if x != f {
			m.Finalizers = append(m.Finalizers, x)
		}
	}
	p, err := json.Marshal(patchBody[finalizersMetadata]{Metadata: m})
	return p, true, err
}
