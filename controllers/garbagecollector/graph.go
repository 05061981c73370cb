package garbagecollector

import (
	"fmt"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// objectRef names an object by the coordinates an ownerReference uses, plus its namespace.
type objectRef struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	UID        types.UID
}

// String renders the reference as upstream's events and logs do.
func (r objectRef) String() string {
	return fmt.Sprintf("[%s/%s, namespace: %s, name: %s, uid: %s]", r.APIVersion, r.Kind, r.Namespace, r.Name, r.UID)
}

// refOf is the identity an ownerReference gives its owner when seen from a dependent in namespace ns.
func refOf(o metav1.OwnerReference, ns string) objectRef {
	return objectRef{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, Namespace: ns}
}

// sameCoordinates reports whether ownerReference o points at exactly r (namespace aside).
func sameCoordinates(o metav1.OwnerReference, r objectRef) bool {
	return o.UID == r.UID && o.Name == r.Name && o.Kind == r.Kind && o.APIVersion == r.APIVersion
}

// node is one object in the graph: what the collector knows of it, and who depends on it. Owners and
// identity strings share memory with the informer's stripped copy of the object.
type node struct {
	identity objectRef
	owners   []metav1.OwnerReference
	// dependents are the nodes with an ownerReference to this node's UID; nil until there is one.
	dependents map[*node]struct{}
	// virtual nodes stand for owners named by a dependent but not (yet) seen by any informer.
	virtual bool
	// beingDeleted is set once a deletionTimestamp is seen; deletion is a one-way trip.
	beingDeleted bool
	// deletingDependents is set when the object is being deleted with the foregroundDeletion finalizer.
	deletingDependents bool
}

func (n *node) addDependent(d *node) {
	if n.dependents == nil {
		n.dependents = map[*node]struct{}{}
	}
	n.dependents[d] = struct{}{}
}

func (n *node) removeDependent(d *node) {
	delete(n.dependents, d)
	if len(n.dependents) == 0 {
		n.dependents = nil
	}
}

// sortedDependents returns the dependents in a stable order (by UID), so effects are deterministic.
func (n *node) sortedDependents() []*node {
	deps := make([]*node, 0, len(n.dependents))
	for d := range n.dependents {
		deps = append(deps, d)
	}
	slices.SortFunc(deps, func(a, b *node) int {
		switch {
		case a.identity.UID < b.identity.UID:
			return -1
		case a.identity.UID > b.identity.UID:
			return 1
		}
		return 0
	})
	return deps
}

type eventType int

const (
	addEvent eventType = iota
	updateEvent
	deleteEvent
)

// event is a change of one object as an informer saw it, or a virtual deletion: the collector found
// through the API that an object the graph holds does not exist.
type event struct {
	typ     eventType
	virtual bool
	gvk     schema.GroupVersionKind
	obj     metav1.Object
	// old is the previous state for updates, nil otherwise.
	old metav1.Object
}

func (e *event) identity() objectRef {
	return objectRef{
		APIVersion: e.gvk.GroupVersion().String(),
		Kind:       e.gvk.Kind,
		Namespace:  e.obj.GetNamespace(),
		Name:       e.obj.GetName(),
		UID:        e.obj.GetUID(),
	}
}

// invalidOwnerRef is a dependent whose ownerReference names an owner in a namespace it cannot be in.
type invalidOwnerRef struct {
	dependent objectRef
	owner     objectRef
}

// effects are what one graph change asks of the collector's workers.
type effects struct {
	// attemptToDelete are objects whose owners, or whose dependents, should be looked at again.
	attemptToDelete []types.UID
	// attemptToDeleteLater are like attemptToDelete, rate limited.
	attemptToDeleteLater []types.UID
	// attemptToOrphan are owners whose dependents must lose their reference before the owner goes.
	attemptToOrphan []types.UID
	// absent are identities the API confirmed do not exist.
	absent []objectRef
	// invalid are references to report with an OwnerRefInvalidNamespace event.
	invalid []invalidOwnerRef
}

func (fx *effects) delete(n *node) { fx.attemptToDelete = append(fx.attemptToDelete, n.identity.UID) }

// graph is the collector's picture of ownership: every object of every watched resource by UID, with
// links from owners to dependents. One goroutine applies events; workers read views.
type graph struct {
	mu    sync.RWMutex
	nodes map[types.UID]*node
}

func newGraph() *graph {
	return &graph{nodes: map[types.UID]*node{}}
}

// apply changes the graph for ev and returns what the workers should do about it.
func (g *graph) apply(ev *event) effects {
	g.mu.Lock()
	defer g.mu.Unlock()
	var fx effects
	observed := ev.identity()
	existing, found := g.nodes[observed.UID]
	if found && !ev.virtual && existing.virtual {
		// The informer now shows the object a dependent pointed at: its real coordinates win, and the
		// dependents that named it differently are looked at again.
		if observed != existing.identity {
			_, mismatched := partitionDependents(existing.sortedDependents(), observed)
			for _, dep := range mismatched {
				if observed.Namespace != "" && dep.identity.Namespace != observed.Namespace {
					fx.invalid = append(fx.invalid, invalidOwnerRef{dependent: dep.identity, owner: ownerRefIdentity(dep, observed.UID)})
				}
				fx.delete(dep)
			}
			existing.identity = observed
		}
		existing.virtual = false
	}

	switch {
	case ev.typ != deleteEvent && !found:
		n := &node{
			identity:           observed,
			owners:             ev.obj.GetOwnerReferences(),
			beingDeleted:       ev.obj.GetDeletionTimestamp() != nil,
			deletingDependents: ev.obj.GetDeletionTimestamp() != nil && hasFinalizer(ev.obj, metav1.FinalizerDeleteDependents),
		}
		g.nodes[n.identity.UID] = n
		g.addDependentToOwners(n, n.owners, &fx)
		g.processTransitions(ev, n, &fx)

	case ev.typ != deleteEvent:
		if !ev.virtual && (existing.identity.APIVersion != observed.APIVersion || existing.identity.Kind != observed.Kind) {
			existing.identity.APIVersion, existing.identity.Kind = observed.APIVersion, observed.Kind
		}
		owners := ev.obj.GetOwnerReferences()
		added, removed, changed := referenceDiffs(existing.owners, owners)
		if len(added) != 0 || len(removed) != 0 || len(changed) != 0 {
			g.addUnblockedOwners(removed, changed, &fx)
			existing.owners = owners
			g.addDependentToOwners(existing, added, &fx)
			g.removeDependentFromOwners(existing, removed)
		}
		if ev.obj.GetDeletionTimestamp() != nil {
			existing.beingDeleted = true
		}
		g.processTransitions(ev, existing, &fx)

	case found:
		g.applyDelete(ev, existing, &fx)
	}
	return fx
}

func (g *graph) applyDelete(ev *event, existing *node, fx *effects) {
	deleted := ev.identity()
	remove := true
	if ev.virtual {
		// A virtual deletion proves only that the object with these coordinates is absent; dependents
		// that name the UID differently keep the node alive under another identity.
		matching, mismatched := partitionDependents(existing.sortedDependents(), deleted)
		switch {
		case existing.virtual && len(mismatched) > 0:
			remove = false
			if len(matching) > 0 {
				fx.absent = append(fx.absent, deleted)
				for _, dep := range matching {
					fx.delete(dep)
				}
			}
			if existing.identity == deleted {
				if alt := alternateOwnerIdentity(mismatched, deleted); alt != nil {
					existing.identity = *alt
					fx.attemptToDeleteLater = append(fx.attemptToDeleteLater, existing.identity.UID)
				}
			}
		case !existing.virtual && existing.identity != deleted:
			// The informer saw the real object under other coordinates: keep it.
			remove = false
			if len(matching) > 0 {
				fx.absent = append(fx.absent, deleted)
				for _, dep := range matching {
					fx.delete(dep)
				}
			}
		}
	}
	if !remove {
		return
	}
	delete(g.nodes, existing.identity.UID)
	g.removeDependentFromOwners(existing, existing.owners)
	if len(existing.dependents) > 0 {
		fx.absent = append(fx.absent, deleted)
	}
	for _, dep := range existing.sortedDependents() {
		fx.delete(dep)
	}
	for _, o := range existing.owners {
		if owner, ok := g.nodes[o.UID]; ok && owner.deletingDependents {
			// The owner waits in the foreground for its dependents: one fewer now.
			fx.delete(owner)
		}
	}
}

// addDependentToOwners links n under each of owners, creating virtual nodes for owners not seen yet
// (enqueued so that the API confirms whether they exist), and asks for n to be checked when one of its
// references cannot be right.
func (g *graph) addDependentToOwners(n *node, owners []metav1.OwnerReference, fx *effects) {
	suspicious := false
	for _, o := range owners {
		owner, ok := g.nodes[o.UID]
		if !ok {
			owner = &node{identity: refOf(o, n.identity.Namespace), virtual: true}
			g.nodes[o.UID] = owner
			owner.addDependent(n)
			fx.delete(owner)
			continue
		}
		owner.addDependent(n)
		if suspicious {
			continue
		}
		ownerNamespaced := owner.identity.Namespace != ""
		switch {
		case ownerNamespaced && owner.identity.Namespace != n.identity.Namespace:
			// A namespaced owner can only own objects of its own namespace.
			if !owner.virtual {
				fx.invalid = append(fx.invalid, invalidOwnerRef{dependent: n.identity, owner: refOf(o, n.identity.Namespace)})
			}
			suspicious = true
		case !sameCoordinates(o, owner.identity):
			suspicious = true
		case !ownerNamespaced && owner.identity.Namespace != n.identity.Namespace && owner.virtual:
			// A virtual owner taken for cluster-scoped may be a namespaced object named by a
			// cluster-scoped dependent, which is invalid: let the API decide.
			suspicious = true
		}
	}
	if suspicious {
		fx.delete(n)
	}
}

func (g *graph) removeDependentFromOwners(n *node, owners []metav1.OwnerReference) {
	for _, o := range owners {
		if owner, ok := g.nodes[o.UID]; ok {
			owner.removeDependent(n)
		}
	}
}

// addUnblockedOwners asks owners waiting in the foreground to look again when a dependent stops blocking
// them, by dropping its reference or setting blockOwnerDeletion to false.
func (g *graph) addUnblockedOwners(removed []metav1.OwnerReference, changed []refChange, fx *effects) {
	for _, r := range removed {
		if isTrue(r.BlockOwnerDeletion) {
			if owner, ok := g.nodes[r.UID]; ok {
				fx.delete(owner)
			}
		}
	}
	for _, c := range changed {
		if isTrue(c.old.BlockOwnerDeletion) && !isTrue(c.new.BlockOwnerDeletion) {
			if owner, ok := g.nodes[c.new.UID]; ok {
				fx.delete(owner)
			}
		}
	}
}

// processTransitions starts orphaning or foreground deletion when an object starts being deleted with
// the matching finalizer.
func (g *graph) processTransitions(ev *event, n *node, fx *effects) {
	if startsDeletionWith(ev.old, ev.obj, metav1.FinalizerOrphanDependents) {
		fx.attemptToOrphan = append(fx.attemptToOrphan, n.identity.UID)
		return
	}
	if startsDeletionWith(ev.old, ev.obj, metav1.FinalizerDeleteDependents) {
		n.deletingDependents = true
		for _, dep := range n.sortedDependents() {
			fx.delete(dep)
		}
		fx.delete(n)
	}
}

// startsDeletionWith reports whether obj is being deleted with finalizer f and old was not.
func startsDeletionWith(old, obj metav1.Object, f string) bool {
	if obj.GetDeletionTimestamp() == nil || !hasFinalizer(obj, f) {
		return false
	}
	return old == nil || old.GetDeletionTimestamp() == nil || !hasFinalizer(old, f)
}

func hasFinalizer(obj metav1.Object, f string) bool {
	return slices.Contains(obj.GetFinalizers(), f)
}

func isTrue(b *bool) bool { return b != nil && *b }

type refChange struct {
	old, new metav1.OwnerReference
}

// referenceDiffs compares two ownerReference lists by owner UID.
func referenceDiffs(old, new []metav1.OwnerReference) (added, removed []metav1.OwnerReference, changed []refChange) {
	oldByUID := make(map[types.UID]metav1.OwnerReference, len(old))
	for _, r := range old {
		oldByUID[r.UID] = r
	}
	for _, r := range new {
		o, ok := oldByUID[r.UID]
		if !ok {
			added = append(added, r)
			continue
		}
		if !ownerRefEqual(o, r) {
			changed = append(changed, refChange{old: o, new: r})
		}
		delete(oldByUID, r.UID)
	}
	for _, r := range old {
		if _, ok := oldByUID[r.UID]; ok {
			removed = append(removed, r)
		}
	}
	return added, removed, changed
}

func ownerRefEqual(a, b metav1.OwnerReference) bool {
	return a.APIVersion == b.APIVersion && a.Kind == b.Kind && a.Name == b.Name && a.UID == b.UID &&
		isTrue(a.Controller) == isTrue(b.Controller) && (a.Controller == nil) == (b.Controller == nil) &&
		isTrue(a.BlockOwnerDeletion) == isTrue(b.BlockOwnerDeletion) && (a.BlockOwnerDeletion == nil) == (b.BlockOwnerDeletion == nil)
}

// ownerRefIdentity is the identity dep's reference to uid gives its owner, for events.
func ownerRefIdentity(dep *node, uid types.UID) objectRef {
	for _, o := range dep.owners {
		if o.UID == uid {
			return refOf(o, dep.identity.Namespace)
		}
	}
	return objectRef{UID: uid, Namespace: dep.identity.Namespace}
}

// partitionDependents splits deps into those whose reference to owner.UID matches owner's coordinates
// and namespace, and those with a reference that does not. A dependent can be in both.
func partitionDependents(deps []*node, owner objectRef) (matching, mismatched []*node) {
	ownerNamespaced := owner.Namespace != ""
	for _, dep := range deps {
		match, mismatch := false, false
		if ownerNamespaced && dep.identity.Namespace != owner.Namespace {
			mismatch = true
		} else {
			for _, o := range dep.owners {
				if o.UID != owner.UID {
					continue
				}
				if sameCoordinates(o, owner) {
					match = true
				} else {
					mismatch = true
				}
			}
		}
		if match {
			matching = append(matching, dep)
		}
		if mismatch {
			mismatched = append(mismatched, dep)
		}
	}
	return matching, mismatched
}

// refLess orders identities by kind, apiVersion, namespace, name and uid.
func refLess(a, b objectRef) bool {
	switch {
	case a.Kind != b.Kind:
		return a.Kind < b.Kind
	case a.APIVersion != b.APIVersion:
		return a.APIVersion < b.APIVersion
	case a.Namespace != b.Namespace:
		return a.Namespace < b.Namespace
	case a.Name != b.Name:
		return a.Name < b.Name
	}
	return a.UID < b.UID
}

// alternateOwnerIdentity finds another identity deps give the owner with absent's UID: the first after
// absent in refLess order, else the first. Trying each in turn lets the API settle every claim.
func alternateOwnerIdentity(deps []*node, absent objectRef) *objectRef {
	absentClusterScoped := absent.Namespace == ""
	var first, firstAfter *objectRef
	seen := map[objectRef]bool{absent: true}
	for _, dep := range deps {
		for _, o := range dep.owners {
			if o.UID != absent.UID {
				continue
			}
			if sameCoordinates(o, absent) && (absentClusterScoped || absent.Namespace == dep.identity.Namespace) {
				continue
			}
			ref := refOf(o, dep.identity.Namespace)
			if absentClusterScoped && ref.APIVersion == absent.APIVersion && ref.Kind == absent.Kind {
				// This kind is known to be cluster-scoped.
				ref.Namespace = ""
			}
			if seen[ref] {
				continue
			}
			seen[ref] = true
			if first == nil || refLess(ref, *first) {
				first = &ref
			}
			if refLess(absent, ref) && (firstAfter == nil || refLess(ref, *firstAfter)) {
				firstAfter = &ref
			}
		}
	}
	if firstAfter != nil {
		return firstAfter
	}
	return first
}

// dependentView is what a worker needs of one dependent.
type dependentView struct {
	identity           objectRef
	owners             []metav1.OwnerReference
	deletingDependents bool
}

// nodeView is a copy of one node's own state for a worker, taken under the graph's lock.
type nodeView struct {
	identity           objectRef
	virtual            bool
	beingDeleted       bool
	deletingDependents bool
}

// view returns a copy of the node with uid, and whether there is one.
func (g *graph) view(uid types.UID) (nodeView, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.nodes[uid]
	if !ok {
		return nodeView{}, false
	}
	return nodeView{identity: n.identity, virtual: n.virtual, beingDeleted: n.beingDeleted, deletingDependents: n.deletingDependents}, true
}

// dependents returns copies of the dependents of the node with uid, in no particular order.
func (g *graph) dependents(uid types.UID) []dependentView {
	return g.selectDependents(uid, func(*node) bool { return true })
}

// blockingDependents are the dependents whose reference to the node with uid has blockOwnerDeletion
// set: the node's foreground deletion waits for them.
func (g *graph) blockingDependents(uid types.UID) []dependentView {
	return g.selectDependents(uid, func(d *node) bool {
		for _, o := range d.owners {
			if o.UID == uid && isTrue(o.BlockOwnerDeletion) {
				return true
			}
		}
		return false
	})
}

func (g *graph) selectDependents(uid types.UID, keep func(*node) bool) []dependentView {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.nodes[uid]
	if !ok {
		return nil
	}
	var out []dependentView
	for d := range n.dependents {
		if keep(d) {
			out = append(out, dependentView{identity: d.identity, owners: d.owners, deletingDependents: d.deletingDependents})
		}
	}
	return out
}

// size is the number of nodes, virtual ones included.
func (g *graph) size() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.nodes)
}
