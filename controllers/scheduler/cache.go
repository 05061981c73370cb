package scheduler

import (
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// cachedPod is a pod the cache counts on a node.
type cachedPod struct {
	info *podInfo
	node string
	// assumed is true from the moment the scheduler picks the node until the API shows the pod bound.
	assumed bool
}

// schedulerCache holds every node and the pods on them: pods bound in the API (from the informer)
// and pods this scheduler has assumed onto a node before their binding lands. Informer handlers,
// the scheduling loop and the bind workers use it concurrently; the scheduling loop reads it only
// through snapshots.
type schedulerCache struct {
	mu    sync.Mutex
	nodes map[string]*cacheNode
	// head is the most recently changed node; the list runs to the least recent, so that a snapshot
	// update visits only the nodes changed since it was last updated.
	head *cacheNode
	pods map[types.UID]*cachedPod
	tree nodeTree
	// generation counts changes; each nodeInfo records the generation of its last change.
	generation int64
}

// cacheNode is a nodeInfo in the cache's list of nodes by recency.
type cacheNode struct {
	name       string
	info       *nodeInfo
	prev, next *cacheNode
}

func newSchedulerCache() *schedulerCache {
	return &schedulerCache{
		nodes: map[string]*cacheNode{},
		pods:  map[types.UID]*cachedPod{},
		tree:  newNodeTree(),
	}
}

// nodeLocked returns the entry of name, making an empty one if needed: pods may be seen before their
// node.
func (c *schedulerCache) nodeLocked(name string) *cacheNode {
	e, ok := c.nodes[name]
	if !ok {
		e = &cacheNode{name: name, info: &nodeInfo{}}
		c.nodes[name] = e
	}
	return e
}

// touchLocked records a change of e and moves it to the head of the list.
func (c *schedulerCache) touchLocked(e *cacheNode) {
	c.generation++
	e.info.generation = c.generation
	if c.head == e {
		return
	}
	c.unlinkLocked(e)
	e.next = c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
}

func (c *schedulerCache) unlinkLocked(e *cacheNode) {
	if e.prev != nil {
		e.prev.next = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	if c.head == e {
		c.head = e.next
	}
	e.prev, e.next = nil, nil
}

// dropIfEmptyLocked forgets an entry with neither a node nor pods.
func (c *schedulerCache) dropIfEmptyLocked(e *cacheNode) {
	if e.info.node == nil && len(e.info.pods) == 0 {
		c.unlinkLocked(e)
		delete(c.nodes, e.name)
	}
}

// addNode adds or updates a node.
func (c *schedulerCache) addNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.nodeLocked(node.Name)
	if e.info.node == nil {
		c.tree.add(node)
	} else {
		c.tree.update(e.info.node, node)
	}
	e.info.setNode(node)
	c.touchLocked(e)
}

// removeNode forgets a node. Its pods stay accounted until they are deleted, in case the node comes
// back.
func (c *schedulerCache) removeNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.nodes[name]
	if !ok || e.info.node == nil {
		return
	}
	c.tree.remove(name)
	e.info.node = nil
	e.info.allocatable = resources{}
	c.touchLocked(e)
	c.dropIfEmptyLocked(e)
}

// addPod accounts a pod bound to a node in the API, replacing the version counted before (returned,
// nil if none). A pod this scheduler assumed is confirmed, on the node the API says.
func (c *schedulerCache) addPod(pi *podInfo) *podInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	var prev *podInfo
	if old, ok := c.pods[pi.pod.UID]; ok {
		prev = old.info
		c.removeLocked(old)
	}
	c.addLocked(&cachedPod{info: pi, node: pi.pod.Spec.NodeName})
	return prev
}

// removePod forgets the pod with uid, bound or assumed, and reports whether it was counted.
func (c *schedulerCache) removePod(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.pods[uid]
	if ok {
		c.removeLocked(old)
	}
	return ok
}

// assumePod counts pi on node before its binding lands, so that the next pods see the node's
// resources taken. The pod keeps its empty nodeName: the cache knows its node, and no plugin reads
// the nodeName of the pods it counts.
func (c *schedulerCache) assumePod(pi *podInfo, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	uid := pi.pod.UID
	if _, ok := c.pods[uid]; ok {
		return fmt.Errorf("pod %s/%s is already on a node in the scheduler cache", pi.pod.Namespace, pi.pod.Name)
	}
	c.addLocked(&cachedPod{info: pi, node: node, assumed: true})
	return nil
}

// forgetPod undoes assumePod after a failed binding. A pod the API has meanwhile shown bound is kept.
func (c *schedulerCache) forgetPod(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pods[uid]; ok && p.assumed {
		c.removeLocked(p)
	}
}

// isAssumed reports whether the pod with uid waits for its binding to land.
func (c *schedulerCache) isAssumed(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pods[uid]
	return ok && p.assumed
}

func (c *schedulerCache) addLocked(p *cachedPod) {
	e := c.nodeLocked(p.node)
	e.info.addPod(p.info)
	c.pods[p.info.pod.UID] = p
	c.touchLocked(e)
}

func (c *schedulerCache) removeLocked(p *cachedPod) {
	delete(c.pods, p.info.pod.UID)
	e, ok := c.nodes[p.node]
	if !ok {
		return
	}
	e.info.removePod(p.info)
	c.touchLocked(e)
	c.dropIfEmptyLocked(e)
}

// counts returns how many nodes and pods the cache holds, and how many of the pods are assumed.
func (c *schedulerCache) counts() (nodes, pods, assumed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.nodes {
		if e.info.node != nil {
			nodes++
		}
	}
	for _, p := range c.pods {
		if p.assumed {
			assumed++
		}
	}
	return nodes, len(c.pods), assumed
}

// snapshot is a consistent copy of the cache that one scheduling cycle reads without locks.
type snapshot struct {
	nodes map[string]*nodeInfo
	// list holds every node, interleaved across zones so that a partial search samples all zones.
	list []*nodeInfo
	// withAffinity and withRequiredAntiAffinity are the nodes hosting pods with such terms.
	withAffinity             []*nodeInfo
	withRequiredAntiAffinity []*nodeInfo
	// generation and treeGeneration are those of the cache when the snapshot was last updated.
	generation, treeGeneration int64
}

func newSnapshot() *snapshot {
	return &snapshot{nodes: map[string]*nodeInfo{}, treeGeneration: -1}
}

// updateSnapshot brings s up to date, copying only the nodes changed since s was last updated. The
// nodeInfos of s keep their identity, so s.list stays valid unless nodes came or went.
func (c *schedulerCache) updateSnapshot(s *snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.generation == c.generation && s.treeGeneration == c.tree.generation {
		return
	}
	rebuildList := s.treeGeneration != c.tree.generation
	rebuildAffinity := false
	for e := c.head; e != nil && e.info.generation > s.generation; e = e.next {
		if e.info.node == nil {
			continue
		}
		sn, had := s.nodes[e.name]
		if !had {
			sn = &nodeInfo{}
			s.nodes[e.name] = sn
			rebuildList = true
		}
		hadAffinity, hadAnti := len(sn.podsWithAffinity) > 0, len(sn.podsWithRequiredAntiAffinity) > 0
		sn.copyFrom(e.info)
		if hadAffinity != (len(sn.podsWithAffinity) > 0) || hadAnti != (len(sn.podsWithRequiredAntiAffinity) > 0) {
			rebuildAffinity = true
		}
	}
	if rebuildList {
		for name := range s.nodes {
			if e, ok := c.nodes[name]; !ok || e.info.node == nil {
				delete(s.nodes, name)
			}
		}
		s.list = s.list[:0]
		for _, name := range c.tree.list() {
			if n, ok := s.nodes[name]; ok {
				s.list = append(s.list, n)
			}
		}
		rebuildAffinity = true
	}
	if rebuildAffinity {
		s.withAffinity, s.withRequiredAntiAffinity = s.withAffinity[:0], s.withRequiredAntiAffinity[:0]
		for _, n := range s.list {
			if len(n.podsWithAffinity) > 0 {
				s.withAffinity = append(s.withAffinity, n)
			}
			if len(n.podsWithRequiredAntiAffinity) > 0 {
				s.withRequiredAntiAffinity = append(s.withRequiredAntiAffinity, n)
			}
		}
	}
	s.generation, s.treeGeneration = c.generation, c.tree.generation
}

// nodeTree orders node names so that consecutive names come from different zones, as upstream's
// node tree does: zones in the order they appeared, nodes of a zone in the order they were added.
type nodeTree struct {
	zones  []string
	byZone map[string][]string
	zoneOf map[string]string
	// generation changes whenever the order does.
	generation int64
	cached     []string
	valid      bool
}

func newNodeTree() nodeTree {
	return nodeTree{byZone: map[string][]string{}, zoneOf: map[string]string{}}
}

// zoneKey identifies the zone of a node by its region and zone labels; "" when it has neither.
func zoneKey(node *corev1.Node) string {
	region, zone := node.Labels[corev1.LabelTopologyRegion], node.Labels[corev1.LabelTopologyZone]
	if region == "" {
		region = node.Labels[corev1.LabelFailureDomainBetaRegion]
	}
	if zone == "" {
		zone = node.Labels[corev1.LabelFailureDomainBetaZone]
	}
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}

func (t *nodeTree) add(node *corev1.Node) {
	if _, ok := t.zoneOf[node.Name]; ok {
		return
	}
	z := zoneKey(node)
	if _, ok := t.byZone[z]; !ok {
		t.zones = append(t.zones, z)
	}
	t.byZone[z] = append(t.byZone[z], node.Name)
	t.zoneOf[node.Name] = z
	t.valid = false
	t.generation++
}

func (t *nodeTree) remove(name string) {
	z, ok := t.zoneOf[name]
	if !ok {
		return
	}
	delete(t.zoneOf, name)
	names := slices.DeleteFunc(t.byZone[z], func(n string) bool { return n == name })
	if len(names) == 0 {
		delete(t.byZone, z)
		t.zones = slices.DeleteFunc(t.zones, func(s string) bool { return s == z })
	} else {
		t.byZone[z] = names
	}
	t.valid = false
	t.generation++
}

// update moves a node whose zone changed and reports whether it did.
func (t *nodeTree) update(old, node *corev1.Node) bool {
	if zoneKey(old) == zoneKey(node) {
		return false
	}
	t.remove(old.Name)
	t.add(node)
	return true
}

// list returns the names of all nodes, taking one of each zone in turn.
func (t *nodeTree) list() []string {
	if t.valid {
		return t.cached
	}
	t.cached = t.cached[:0]
	for i := 0; ; i++ {
		added := false
		for _, z := range t.zones {
			if names := t.byZone[z]; i < len(names) {
				t.cached = append(t.cached, names[i])
				added = true
			}
		}
		if !added {
			break
		}
	}
	t.valid = true
	return t.cached
}
