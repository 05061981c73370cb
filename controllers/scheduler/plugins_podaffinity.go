package scheduler

import (
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const (
	reasonAffinityRules              = "node(s) didn't match pod affinity rules"
	reasonAntiAffinityRules          = "node(s) didn't match pod anti-affinity rules"
	reasonExistingAntiAffinity       = "node(s) didn't satisfy existing pods anti-affinity rules"
	hardPodAffinityWeight      int64 = 1
)

// topologyPair is a topology domain: a node label key and value.
type topologyPair struct {
	key, value string
}

type topologyCounts map[topologyPair]int64

// add counts delta for the domain of node along key, if the node has the key.
func (m topologyCounts) add(node *corev1.Node, key string, delta int64) {
	if v, ok := node.Labels[key]; ok {
		m[topologyPair{key, v}] += delta
	}
}

// matchesAll reports whether pod matches every one of terms (the incoming pod's terms, whose
// namespace selectors are already merged).
func matchesAll(terms []affinityTerm, pod *corev1.Pod) bool {
	if len(terms) == 0 {
		return false
	}
	for i := range terms {
		if !terms[i].matches(pod, nil) {
			return false
		}
	}
	return true
}

// mergeNamespaces returns the terms with the namespaces their namespace selectors select added to
// their namespaces, so that matching them needs no namespace labels. Terms are copied, not changed.
func (c *cycle) mergeNamespaces(terms []affinityTerm) ([]affinityTerm, error) {
	out := make([]affinityTerm, len(terms))
	for i, t := range terms {
		out[i] = t
		if t.namespaceSelector.Empty() {
			continue // selects every namespace; keep it as it is
		}
		if _, selectable := t.namespaceSelector.Requirements(); !selectable {
			continue // selects no namespace
		}
		names, err := c.lister.namespacesMatching(c.ctx, t.namespaceSelector)
		if err != nil {
			return nil, fmt.Errorf("listing namespaces: %w", err)
		}
		out[i].namespaces = t.namespaces.Clone().Insert(names...)
		out[i].namespaceSelector = labels.Nothing()
	}
	return out, nil
}

func (c *cycle) mergeWeightedNamespaces(terms []weightedAffinityTerm) ([]weightedAffinityTerm, error) {
	plain := make([]affinityTerm, len(terms))
	for i := range terms {
		plain[i] = terms[i].affinityTerm
	}
	merged, err := c.mergeNamespaces(plain)
	if err != nil {
		return nil, err
	}
	out := make([]weightedAffinityTerm, len(terms))
	for i := range terms {
		out[i] = weightedAffinityTerm{affinityTerm: merged[i], weight: terms[i].weight}
	}
	return out, nil
}

// interPodAffinity places pods by the pods already running: a pod's required affinity needs a
// matching pod in the node's domain, its required anti-affinity forbids one, and the required
// anti-affinity of running pods repels the pods they match. Preferred terms of both score.
type interPodAffinity struct{}

type podAffinityFilterState struct {
	requiredAffinity     []affinityTerm
	requiredAntiAffinity []affinityTerm
	// affinity counts, per domain, the pods matching all of the pod's required affinity terms;
	// antiAffinity the pods matching each of its anti-affinity terms; existingAntiAffinity the
	// running pods whose anti-affinity terms match the pod.
	affinity             topologyCounts
	antiAffinity         topologyCounts
	existingAntiAffinity topologyCounts
}

type podAffinityScoreState struct {
	scores map[string]map[string]int64
}

func (interPodAffinity) name() string { return "InterPodAffinity" }
func (interPodAffinity) events() clusterEvent {
	return nodeAdded | nodeLabelsChanged | assignedPodAdded | assignedPodLabelsChanged | assignedPodRemoved | namespaceChanged
}
func (interPodAffinity) weight() int64 { return 2 }

func (interPodAffinity) preFilter(c *cycle) (bool, *status) {
	pi := c.pod
	if pi.parseErr != nil {
		return false, unresolvable(fmt.Sprintf("parsing pod: %+v", pi.parseErr))
	}
	if len(pi.requiredAffinity) == 0 && len(pi.requiredAntiAffinity) == 0 && len(c.snap.withRequiredAntiAffinity) == 0 {
		return true, nil
	}
	s := &podAffinityFilterState{affinity: topologyCounts{}, antiAffinity: topologyCounts{}, existingAntiAffinity: topologyCounts{}}
	var err error
	if s.requiredAffinity, err = c.mergeNamespaces(pi.requiredAffinity); err != nil {
		return false, errorStatus(err)
	}
	if s.requiredAntiAffinity, err = c.mergeNamespaces(pi.requiredAntiAffinity); err != nil {
		return false, errorStatus(err)
	}
	nsLabels, err := c.lister.namespaceLabels(c.ctx, pi.pod.Namespace)
	if err != nil {
		return false, errorStatus(fmt.Errorf("namespace %s: %w", pi.pod.Namespace, err))
	}
	for _, n := range c.snap.withRequiredAntiAffinity {
		for _, existing := range n.podsWithRequiredAntiAffinity {
			for i := range existing.requiredAntiAffinity {
				t := &existing.requiredAntiAffinity[i]
				if t.matches(pi.pod, nsLabels) {
					s.existingAntiAffinity.add(n.node, t.topologyKey, 1)
				}
			}
		}
	}
	if len(s.requiredAffinity) > 0 || len(s.requiredAntiAffinity) > 0 {
		for _, n := range c.snap.list {
			for _, existing := range n.pods {
				if matchesAll(s.requiredAffinity, existing.pod) {
					for i := range s.requiredAffinity {
						s.affinity.add(n.node, s.requiredAffinity[i].topologyKey, 1)
					}
				}
				for i := range s.requiredAntiAffinity {
					if s.requiredAntiAffinity[i].matches(existing.pod, nil) {
						s.antiAffinity.add(n.node, s.requiredAntiAffinity[i].topologyKey, 1)
					}
				}
			}
		}
	}
	if len(s.existingAntiAffinity) == 0 && len(s.requiredAffinity) == 0 && len(s.requiredAntiAffinity) == 0 {
		return true, nil
	}
	c.podAffinity = s
	return false, nil
}

func (interPodAffinity) filter(c *cycle, n *nodeInfo) *status {
	s := c.podAffinity
	if !s.satisfiesAffinity(c.pod.pod, n.node) {
		return unresolvable(reasonAffinityRules)
	}
	if !s.satisfiesAntiAffinity(n.node) {
		return unschedulable(reasonAntiAffinityRules)
	}
	if !s.satisfiesExistingAntiAffinity(n.node) {
		return unschedulable(reasonExistingAntiAffinity)
	}
	return nil
}

// satisfiesAffinity requires a matching pod in the node's domain of every affinity term. The first
// pod of a group whose terms select itself may go anywhere with the topology keys, or it could
// never start.
func (s *podAffinityFilterState) satisfiesAffinity(pod *corev1.Pod, node *corev1.Node) bool {
	podsExist := true
	for i := range s.requiredAffinity {
		t := &s.requiredAffinity[i]
		v, ok := node.Labels[t.topologyKey]
		if !ok {
			return false
		}
		if s.affinity[topologyPair{t.topologyKey, v}] <= 0 {
			podsExist = false
		}
	}
	if podsExist {
		return true
	}
	return len(s.affinity) == 0 && matchesAll(s.requiredAffinity, pod)
}

func (s *podAffinityFilterState) satisfiesAntiAffinity(node *corev1.Node) bool {
	if len(s.antiAffinity) == 0 {
		return true
	}
	for i := range s.requiredAntiAffinity {
		t := &s.requiredAntiAffinity[i]
		if v, ok := node.Labels[t.topologyKey]; ok && s.antiAffinity[topologyPair{t.topologyKey, v}] > 0 {
			return false
		}
	}
	return true
}

func (s *podAffinityFilterState) satisfiesExistingAntiAffinity(node *corev1.Node) bool {
	if len(s.existingAntiAffinity) == 0 {
		return true
	}
	for k, v := range node.Labels {
		if s.existingAntiAffinity[topologyPair{k, v}] > 0 {
			return false
		}
	}
	return true
}

// preScore sums, per domain, the weights of preferred terms linking the pod and running pods both
// ways (and of running pods' required affinity to the pod), negative for anti-affinity.
func (interPodAffinity) preScore(c *cycle, nodes []*nodeInfo) (bool, error) {
	pi := c.pod
	hasPreferred := len(pi.preferredAffinity) > 0 || len(pi.preferredAntiAffinity) > 0
	if len(nodes) == 0 || pi.parseErr != nil || (!hasPreferred && len(c.snap.withAffinity) == 0) {
		return true, nil
	}
	preferred, err := c.mergeWeightedNamespaces(pi.preferredAffinity)
	if err != nil {
		return false, err
	}
	preferredAnti, err := c.mergeWeightedNamespaces(pi.preferredAntiAffinity)
	if err != nil {
		return false, err
	}
	nsLabels, err := c.lister.namespaceLabels(c.ctx, pi.pod.Namespace)
	if err != nil {
		return false, fmt.Errorf("namespace %s: %w", pi.pod.Namespace, err)
	}
	s := &podAffinityScoreState{scores: map[string]map[string]int64{}}
	add := func(node *corev1.Node, key string, delta int64) {
		v, ok := node.Labels[key]
		if !ok {
			return
		}
		m := s.scores[key]
		if m == nil {
			m = map[string]int64{}
			s.scores[key] = m
		}
		m[v] += delta
	}
	scan := c.snap.withAffinity
	if hasPreferred {
		scan = c.snap.list
	}
	for _, n := range scan {
		if len(n.node.Labels) == 0 {
			continue
		}
		pods := n.podsWithAffinity
		if hasPreferred {
			pods = n.pods
		}
		for _, existing := range pods {
			for i := range preferred {
				if preferred[i].matches(existing.pod, nil) {
					add(n.node, preferred[i].topologyKey, int64(preferred[i].weight))
				}
			}
			for i := range preferredAnti {
				if preferredAnti[i].matches(existing.pod, nil) {
					add(n.node, preferredAnti[i].topologyKey, -int64(preferredAnti[i].weight))
				}
			}
			for i := range existing.requiredAffinity {
				if existing.requiredAffinity[i].matches(pi.pod, nsLabels) {
					add(n.node, existing.requiredAffinity[i].topologyKey, hardPodAffinityWeight)
				}
			}
			for i := range existing.preferredAffinity {
				if existing.preferredAffinity[i].matches(pi.pod, nsLabels) {
					add(n.node, existing.preferredAffinity[i].topologyKey, int64(existing.preferredAffinity[i].weight))
				}
			}
			for i := range existing.preferredAntiAffinity {
				if existing.preferredAntiAffinity[i].matches(pi.pod, nsLabels) {
					add(n.node, existing.preferredAntiAffinity[i].topologyKey, -int64(existing.preferredAntiAffinity[i].weight))
				}
			}
		}
	}
	if len(s.scores) == 0 {
		return true, nil
	}
	c.podAffinityScore = s
	return false, nil
}

func (interPodAffinity) score(c *cycle, n *nodeInfo) int64 {
	var score int64
	for key, values := range c.podAffinityScore.scores {
		if v, ok := n.node.Labels[key]; ok {
			score += values[v]
		}
	}
	return score
}

// normalize maps the lowest score to 0 and the highest to maxNodeScore.
func (interPodAffinity) normalize(_ *cycle, scores []int64) {
	lowest, highest := int64(math.MaxInt64), int64(math.MinInt64)
	for _, v := range scores {
		lowest, highest = min(lowest, v), max(highest, v)
	}
	diff := highest - lowest
	for i, v := range scores {
		if diff > 0 {
			scores[i] = int64(float64(maxNodeScore) * float64(v-lowest) / float64(diff))
		} else {
			scores[i] = 0
		}
	}
}
