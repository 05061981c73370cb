package garbagecollector

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var (
	configMapKind = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	nodeKind      = schema.GroupVersionKind{Version: "v1", Kind: "Node"}
	now           = metav1.Now()
)

type objOption func(*metav1.ObjectMeta)

func obj(ns, name string, uid types.UID, opts ...objOption) *metav1.PartialObjectMetadata {
	o := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: uid}}
	for _, opt := range opts {
		opt(&o.ObjectMeta)
	}
	return o
}

func ownedBy(kind, name string, uid types.UID, block bool) objOption {
	return func(m *metav1.ObjectMeta) {
		m.OwnerReferences = append(m.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: kind, Name: name, UID: uid,
			BlockOwnerDeletion: ptr.To(block)})
	}
}

func deleting(finalizers ...string) objOption {
	return func(m *metav1.ObjectMeta) {
		m.DeletionTimestamp = &now
		m.Finalizers = finalizers
	}
}

func added(gvk schema.GroupVersionKind, o metav1.Object) *event {
	return &event{typ: addEvent, gvk: gvk, obj: o}
}

func updated(gvk schema.GroupVersionKind, old, o metav1.Object) *event {
	return &event{typ: updateEvent, gvk: gvk, obj: o, old: old}
}

func deleted(gvk schema.GroupVersionKind, o metav1.Object) *event {
	return &event{typ: deleteEvent, gvk: gvk, obj: o}
}

func virtuallyDeleted(ref objectRef) *event {
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	return &event{typ: deleteEvent, virtual: true, gvk: gv.WithKind(ref.Kind),
		obj: obj(ref.Namespace, ref.Name, ref.UID)}
}

func uids(u ...types.UID) []types.UID { return u }

func TestGraphApply(t *testing.T) {
	owner := obj("ns", "owner", "o")
	dep := obj("ns", "dep", "d", ownedBy("ConfigMap", "owner", "o", true))
	ownerRef := objectRef{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "owner", UID: "o"}

	tests := []struct {
		name string
		// before are applied first; their effects are not checked.
		before []*event
		last   *event
		want   effects
		check  func(t *testing.T, g *graph)
	}{
		{
			name: "a dependent of an owner not seen yet makes a virtual owner to verify",
			last: added(configMapKind, dep),
			want: effects{attemptToDelete: uids("o")},
			check: func(t *testing.T, g *graph) {
				v, ok := g.view("o")
				if !ok || !v.virtual || v.identity != ownerRef {
					t.Errorf("owner node = %+v, %v; want virtual %v", v, ok, ownerRef)
				}
			},
		},
		{
			name:   "the owner seen after its dependent replaces the virtual node quietly",
			before: []*event{added(configMapKind, dep)},
			last:   added(configMapKind, owner),
			want:   effects{},
			check: func(t *testing.T, g *graph) {
				if v, _ := g.view("o"); v.virtual {
					t.Error("owner still virtual")
				}
				if deps := g.dependents("o"); len(deps) != 1 || deps[0].identity.UID != "d" {
					t.Errorf("dependents = %v", deps)
				}
			},
		},
		{
			name:   "a dependent of a known owner needs nothing",
			before: []*event{added(configMapKind, owner)},
			last:   added(configMapKind, dep),
			want:   effects{},
		},
		{
			name:   "a dependent in another namespace than its observed owner is reported and checked",
			before: []*event{added(configMapKind, owner)},
			last:   added(configMapKind, obj("other", "dep", "d", ownedBy("ConfigMap", "owner", "o", false))),
			want: effects{attemptToDelete: uids("d"), invalid: []invalidOwnerRef{{
				dependent: objectRef{APIVersion: "v1", Kind: "ConfigMap", Namespace: "other", Name: "dep", UID: "d"},
				owner:     objectRef{APIVersion: "v1", Kind: "ConfigMap", Namespace: "other", Name: "owner", UID: "o"},
			}}},
		},
		{
			name:   "an owner observed in another namespace than the dependent that named it reports the dependent",
			before: []*event{added(configMapKind, obj("other", "dep", "d", ownedBy("ConfigMap", "owner", "o", false)))},
			last:   added(configMapKind, owner),
			want: effects{attemptToDelete: uids("d"), invalid: []invalidOwnerRef{{
				dependent: objectRef{APIVersion: "v1", Kind: "ConfigMap", Namespace: "other", Name: "dep", UID: "d"},
				owner:     objectRef{APIVersion: "v1", Kind: "ConfigMap", Namespace: "other", Name: "owner", UID: "o"},
			}}},
			check: func(t *testing.T, g *graph) {
				if v, _ := g.view("o"); v.identity != ownerRef {
					t.Errorf("owner identity = %v, want the observed %v", v.identity, ownerRef)
				}
			},
		},
		{
			name:   "a reference with other coordinates than the observed owner gets the dependent checked",
			before: []*event{added(configMapKind, owner)},
			last:   added(configMapKind, obj("ns", "dep", "d", ownedBy("Secret", "owner", "o", false))),
			want:   effects{attemptToDelete: uids("d")},
		},
		{
			name:   "a namespaced dependent may have a cluster-scoped owner",
			before: []*event{added(nodeKind, obj("", "node-1", "n"))},
			last:   added(configMapKind, obj("ns", "dep", "d", ownedBy("Node", "node-1", "n", false))),
			want:   effects{},
		},
		{
			name:   "deleting an owner queues its dependents and records it absent",
			before: []*event{added(configMapKind, owner), added(configMapKind, dep)},
			last:   deleted(configMapKind, owner),
			want:   effects{attemptToDelete: uids("d"), absent: []objectRef{ownerRef}},
			check: func(t *testing.T, g *graph) {
				if _, ok := g.view("o"); ok {
					t.Error("deleted owner still in the graph")
				}
			},
		},
		{
			name:   "deleting an object without dependents records nothing absent",
			before: []*event{added(configMapKind, owner)},
			last:   deleted(configMapKind, owner),
			want:   effects{},
		},
		{
			name:   "deleting the dependent of an owner waiting in the foreground queues the owner",
			before: []*event{added(configMapKind, owner), added(configMapKind, dep), updated(configMapKind, owner, obj("ns", "owner", "o", deleting(metav1.FinalizerDeleteDependents)))},
			last:   deleted(configMapKind, dep),
			want:   effects{attemptToDelete: uids("o")},
			check: func(t *testing.T, g *graph) {
				if deps := g.dependents("o"); len(deps) != 0 {
					t.Errorf("owner dependents = %v, want none", deps)
				}
			},
		},
		{
			name:   "foreground deletion starts: the owner and all its dependents are queued",
			before: []*event{added(configMapKind, owner), added(configMapKind, dep), added(configMapKind, obj("ns", "dep2", "d2", ownedBy("ConfigMap", "owner", "o", false)))},
			last:   updated(configMapKind, owner, obj("ns", "owner", "o", deleting(metav1.FinalizerDeleteDependents))),
			want:   effects{attemptToDelete: uids("d", "d2", "o")},
			check: func(t *testing.T, g *graph) {
				v, _ := g.view("o")
				if !v.deletingDependents || !v.beingDeleted {
					t.Errorf("owner = %+v, want deleting dependents", v)
				}
				if b := g.blockingDependents("o"); len(b) != 1 || b[0].identity.UID != "d" {
					t.Errorf("blocking dependents = %v, want only d", b)
				}
			},
		},
		{
			name:   "an object first seen waiting in the foreground starts its foreground deletion",
			before: []*event{added(configMapKind, dep)},
			last:   added(configMapKind, obj("ns", "owner", "o", deleting(metav1.FinalizerDeleteDependents))),
			want:   effects{attemptToDelete: uids("d", "o")},
		},
		{
			name:   "an update that keeps the foreground finalizer does not start over",
			before: []*event{added(configMapKind, obj("ns", "owner", "o", deleting(metav1.FinalizerDeleteDependents)))},
			last: updated(configMapKind, obj("ns", "owner", "o", deleting(metav1.FinalizerDeleteDependents)),
				obj("ns", "owner", "o", deleting(metav1.FinalizerDeleteDependents, "x"))),
			want: effects{},
		},
		{
			name:   "orphan deletion starts: the owner is queued for orphaning",
			before: []*event{added(configMapKind, owner), added(configMapKind, dep)},
			last:   updated(configMapKind, owner, obj("ns", "owner", "o", deleting(metav1.FinalizerOrphanDependents))),
			want:   effects{attemptToOrphan: uids("o")},
		},
		{
			name:   "a dependent dropping its blocking reference unblocks the owner",
			before: []*event{added(configMapKind, owner), added(configMapKind, dep)},
			last:   updated(configMapKind, dep, obj("ns", "dep", "d")),
			want:   effects{attemptToDelete: uids("o")},
			check: func(t *testing.T, g *graph) {
				if deps := g.dependents("o"); len(deps) != 0 {
					t.Errorf("owner dependents = %v, want none", deps)
				}
			},
		},
		{
			name:   "a dependent turning blockOwnerDeletion off unblocks the owner",
			before: []*event{added(configMapKind, owner), added(configMapKind, dep)},
			last:   updated(configMapKind, dep, obj("ns", "dep", "d", ownedBy("ConfigMap", "owner", "o", false))),
			want:   effects{attemptToDelete: uids("o")},
		},
		{
			name:   "a dependent adding an owner not seen yet makes a virtual owner",
			before: []*event{added(configMapKind, owner), added(configMapKind, dep)},
			last:   updated(configMapKind, dep, obj("ns", "dep", "d", ownedBy("ConfigMap", "owner", "o", true), ownedBy("ConfigMap", "new", "n", false))),
			want:   effects{attemptToDelete: uids("n")},
		},
		{
			name:   "a virtual owner proved absent goes, and its dependents are queued",
			before: []*event{added(configMapKind, dep)},
			last:   virtuallyDeleted(ownerRef),
			want:   effects{attemptToDelete: uids("d"), absent: []objectRef{ownerRef}},
			check: func(t *testing.T, g *graph) {
				if _, ok := g.view("o"); ok {
					t.Error("virtual owner still in the graph")
				}
			},
		},
		{
			name: "a virtual owner named differently by two dependents tries the other identity",
			before: []*event{
				added(configMapKind, dep),
				added(configMapKind, obj("ns", "dep2", "d2", ownedBy("Secret", "owner", "o", false))),
			},
			last: virtuallyDeleted(ownerRef),
			want: effects{attemptToDelete: uids("d"), attemptToDeleteLater: uids("o"), absent: []objectRef{ownerRef}},
			check: func(t *testing.T, g *graph) {
				v, ok := g.view("o")
				want := objectRef{APIVersion: "v1", Kind: "Secret", Namespace: "ns", Name: "owner", UID: "o"}
				if !ok || v.identity != want {
					t.Errorf("owner = %+v, %v; want virtual %v", v, ok, want)
				}
			},
		},
		{
			name:   "a virtual deletion under other coordinates than an observed object keeps it",
			before: []*event{added(configMapKind, owner), added(configMapKind, obj("ns", "dep2", "d2", ownedBy("Secret", "owner", "o", false)))},
			last:   virtuallyDeleted(objectRef{APIVersion: "v1", Kind: "Secret", Namespace: "ns", Name: "owner", UID: "o"}),
			want: effects{attemptToDelete: uids("d2"),
				absent: []objectRef{{APIVersion: "v1", Kind: "Secret", Namespace: "ns", Name: "owner", UID: "o"}}},
			check: func(t *testing.T, g *graph) {
				if v, ok := g.view("o"); !ok || v.virtual {
					t.Errorf("observed owner = %+v, %v; want kept", v, ok)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraph()
			for _, ev := range tt.before {
				g.apply(ev)
			}
			got := g.apply(tt.last)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("effects =\n%+v\nwant\n%+v", got, tt.want)
			}
			if tt.check != nil {
				tt.check(t, g)
			}
		})
	}
}

func TestReferenceDiffs(t *testing.T) {
	a := metav1.OwnerReference{Kind: "ConfigMap", Name: "a", UID: "a"}
	b := metav1.OwnerReference{Kind: "ConfigMap", Name: "b", UID: "b", BlockOwnerDeletion: ptr.To(true)}
	bUnblocked := b
	bUnblocked.BlockOwnerDeletion = ptr.To(false)
	c := metav1.OwnerReference{Kind: "ConfigMap", Name: "c", UID: "c"}
	added, removed, changed := referenceDiffs([]metav1.OwnerReference{a, b}, []metav1.OwnerReference{bUnblocked, c})
	if !reflect.DeepEqual(added, []metav1.OwnerReference{c}) {
		t.Errorf("added = %v, want c", added)
	}
	if !reflect.DeepEqual(removed, []metav1.OwnerReference{a}) {
		t.Errorf("removed = %v, want a", removed)
	}
	if !reflect.DeepEqual(changed, []refChange{{old: b, new: bUnblocked}}) {
		t.Errorf("changed = %v, want b", changed)
	}
	if added, removed, changed := referenceDiffs([]metav1.OwnerReference{a, b}, []metav1.OwnerReference{b, a}); added != nil || removed != nil || changed != nil {
		t.Errorf("reordering is no change: %v %v %v", added, removed, changed)
	}
}
