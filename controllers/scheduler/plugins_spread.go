package scheduler

import (
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

const (
	reasonSpreadSkew         = "node(s) didn't match pod topology spread constraints"
	reasonSpreadMissingLabel = "node(s) didn't match pod topology spread constraints (missing required label)"
)

// systemDefaultSpread are the constraints upstream gives pods that set none, applied to the pods of
// the same Services and controller: spread softly over hostnames and zones.
var systemDefaultSpread = []corev1.TopologySpreadConstraint{
	{TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.ScheduleAnyway, MaxSkew: 3},
	{TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.ScheduleAnyway, MaxSkew: 5},
}

// spreadConstraint is a topology spread constraint with its selector parsed and defaults applied.
type spreadConstraint struct {
	maxSkew            int32
	topologyKey        string
	selector           labels.Selector
	minDomains         int32
	nodeAffinityPolicy corev1.NodeInclusionPolicy
	nodeTaintsPolicy   corev1.NodeInclusionPolicy
}

// spreadConstraintsOf parses the constraints of pod with the given action. matchLabelKeys add the
// pod's own values of those labels to the selector.
func spreadConstraintsOf(pod *corev1.Pod, constraints []corev1.TopologySpreadConstraint, action corev1.UnsatisfiableConstraintAction) ([]spreadConstraint, error) {
	var out []spreadConstraint
	for _, tc := range constraints {
		if tc.WhenUnsatisfiable != action {
			continue
		}
		selector, err := metav1.LabelSelectorAsSelector(tc.LabelSelector)
		if err != nil {
			return nil, err
		}
		for _, key := range tc.MatchLabelKeys {
			if v, ok := pod.Labels[key]; ok {
				r, err := labels.NewRequirement(key, selection.Equals, []string{v})
				if err != nil {
					return nil, err
				}
				selector = selector.Add(*r)
			}
		}
		sc := spreadConstraint{
			maxSkew:            tc.MaxSkew,
			topologyKey:        tc.TopologyKey,
			selector:           selector,
			minDomains:         1,
			nodeAffinityPolicy: corev1.NodeInclusionPolicyHonor,
			nodeTaintsPolicy:   corev1.NodeInclusionPolicyIgnore,
		}
		if tc.MinDomains != nil {
			sc.minDomains = *tc.MinDomains
		}
		if tc.NodeAffinityPolicy != nil {
			sc.nodeAffinityPolicy = *tc.NodeAffinityPolicy
		}
		if tc.NodeTaintsPolicy != nil {
			sc.nodeTaintsPolicy = *tc.NodeTaintsPolicy
		}
		out = append(out, sc)
	}
	return out, nil
}

// includes reports whether node counts for the constraint: by default nodes the pod's node affinity
// and nodeSelector allow, whatever their taints.
func (sc *spreadConstraint) includes(c *cycle, node *corev1.Node, required nodeaffinity.RequiredNodeAffinity) bool {
	if sc.nodeAffinityPolicy == corev1.NodeInclusionPolicyHonor {
		if ok, _ := required.Match(node); !ok {
			return false
		}
	}
	if sc.nodeTaintsPolicy == corev1.NodeInclusionPolicyHonor {
		if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(c.logger, node.Spec.Taints, c.pod.pod.Spec.Tolerations,
			func(t *corev1.Taint) bool {
				return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
			}, tolerationComparisons); untolerated {
			return false
		}
	}
	return true
}

func hasTopologyKeys(node *corev1.Node, constraints []spreadConstraint) bool {
	for i := range constraints {
		if _, ok := node.Labels[constraints[i].topologyKey]; !ok {
			return false
		}
	}
	return true
}

// countMatching counts the pods of namespace among pods that the selector matches, leaving out
// terminating ones.
func countMatching(pods []*podInfo, selector labels.Selector, namespace string) int {
	n := 0
	for _, p := range pods {
		if p.pod.DeletionTimestamp != nil || p.pod.Namespace != namespace {
			continue
		}
		if selector.Matches(labels.Set(p.pod.Labels)) {
			n++
		}
	}
	return n
}

// podTopologySpread keeps pods spread over topology domains as their topologySpreadConstraints ask:
// DoNotSchedule constraints filter, ScheduleAnyway constraints (or the system defaults) score.
type podTopologySpread struct{}

type spreadFilterState struct {
	constraints []spreadConstraint
	// counts holds, per constraint, the matching pods in each domain of the eligible nodes.
	counts []map[string]int
	// minCount is, per constraint, the fewest matching pods in a domain.
	minCount []int
}

type spreadScoreState struct {
	constraints []spreadConstraint
	// requireAll is true for the pod's own constraints: nodes lacking a topology key are not scored.
	requireAll bool
	nodes      []*nodeInfo
	// counts holds, per constraint other than hostname, the matching pods in each domain present
	// among the scored nodes.
	counts  []map[string]int64
	weights []float64
}

func (podTopologySpread) name() string { return "PodTopologySpread" }
func (podTopologySpread) events() clusterEvent {
	return nodeAdded | nodeLabelsChanged | nodeTaintsChanged | assignedPodAdded | assignedPodLabelsChanged | assignedPodRemoved
}
func (podTopologySpread) weight() int64 { return 2 }

func (podTopologySpread) preFilter(c *cycle) (bool, *status) {
	pod := c.pod.pod
	constraints, err := spreadConstraintsOf(pod, pod.Spec.TopologySpreadConstraints, corev1.DoNotSchedule)
	if err != nil {
		return false, errorStatus(fmt.Errorf("get constraints from pod: %w", err))
	}
	// The system defaults are all ScheduleAnyway: nothing to filter for pods without constraints.
	if len(constraints) == 0 {
		return true, nil
	}
	s := &spreadFilterState{constraints: constraints, counts: make([]map[string]int, len(constraints)), minCount: make([]int, len(constraints))}
	for i := range constraints {
		s.counts[i] = map[string]int{}
	}
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	for _, n := range c.snap.list {
		if !hasTopologyKeys(n.node, constraints) {
			continue
		}
		for i := range constraints {
			sc := &constraints[i]
			if !sc.includes(c, n.node, required) {
				continue
			}
			s.counts[i][n.node.Labels[sc.topologyKey]] += countMatching(n.pods, sc.selector, pod.Namespace)
		}
	}
	for i := range constraints {
		s.minCount[i] = math.MaxInt32
		for _, v := range s.counts[i] {
			s.minCount[i] = min(s.minCount[i], v)
		}
	}
	c.spread = s
	return false, nil
}

// filter admits a node if placing the pod there keeps every constraint's skew (the pods in the
// node's domain, with the pod, less the fewest in any domain) within maxSkew. With fewer eligible
// domains than minDomains, the fewest counts as zero.
func (podTopologySpread) filter(c *cycle, n *nodeInfo) *status {
	s := c.spread
	podLabels := labels.Set(c.pod.pod.Labels)
	for i := range s.constraints {
		sc := &s.constraints[i]
		value, ok := n.node.Labels[sc.topologyKey]
		if !ok {
			return unresolvable(reasonSpreadMissingLabel)
		}
		minCount := s.minCount[i]
		if len(s.counts[i]) < int(sc.minDomains) {
			minCount = 0
		}
		self := 0
		if sc.selector.Matches(podLabels) {
			self = 1
		}
		if s.counts[i][value]+self-minCount > int(sc.maxSkew) {
			return unschedulable(reasonSpreadSkew)
		}
	}
	return nil
}

func (podTopologySpread) preScore(c *cycle, nodes []*nodeInfo) (bool, error) {
	pod := c.pod.pod
	s := &spreadScoreState{nodes: nodes}
	var err error
	if len(pod.Spec.TopologySpreadConstraints) > 0 {
		s.requireAll = true
		s.constraints, err = spreadConstraintsOf(pod, pod.Spec.TopologySpreadConstraints, corev1.ScheduleAnyway)
		if err != nil {
			return false, fmt.Errorf("obtaining pod's soft topology spread constraints: %w", err)
		}
	} else {
		selector := c.lister.spreadSelector(c.ctx, pod)
		if !selector.Empty() {
			s.constraints, err = spreadConstraintsOf(pod, systemDefaultSpread, corev1.ScheduleAnyway)
			if err != nil {
				return false, err
			}
			for i := range s.constraints {
				s.constraints[i].selector = selector
			}
		}
	}
	if len(s.constraints) == 0 || len(c.snap.list) == 0 {
		return true, nil
	}
	s.counts = make([]map[string]int64, len(s.constraints))
	s.weights = make([]float64, len(s.constraints))
	sizes := make([]int, len(s.constraints))
	for i := range s.constraints {
		s.counts[i] = map[string]int64{}
	}
	scored := 0
	for _, n := range nodes {
		if s.requireAll && !hasTopologyKeys(n.node, s.constraints) {
			continue
		}
		scored++
		for i := range s.constraints {
			key := s.constraints[i].topologyKey
			if key == corev1.LabelHostname {
				continue // counted per node in score
			}
			value := n.node.Labels[key]
			if _, ok := s.counts[i][value]; !ok {
				s.counts[i][value] = 0
				sizes[i]++
			}
		}
	}
	for i := range s.constraints {
		size := sizes[i]
		if s.constraints[i].topologyKey == corev1.LabelHostname {
			size = scored
		}
		s.weights[i] = math.Log(float64(size + 2))
	}
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	for _, n := range c.snap.list {
		if s.requireAll && !hasTopologyKeys(n.node, s.constraints) {
			continue
		}
		for i := range s.constraints {
			sc := &s.constraints[i]
			value := n.node.Labels[sc.topologyKey]
			count, ok := s.counts[i][value]
			if !ok || !sc.includes(c, n.node, required) {
				continue
			}
			s.counts[i][value] = count + int64(countMatching(n.pods, sc.selector, pod.Namespace))
		}
	}
	c.spreadScore = s
	return false, nil
}

// score sums, over the constraints, the matching pods in the node's domain weighted by the log of
// the number of domains, plus maxSkew-1 to soften small skews; fewer is better.
func (podTopologySpread) score(c *cycle, n *nodeInfo) int64 {
	s := c.spreadScore
	if s.requireAll && !hasTopologyKeys(n.node, s.constraints) {
		return 0
	}
	var score float64
	for i := range s.constraints {
		sc := &s.constraints[i]
		value, ok := n.node.Labels[sc.topologyKey]
		if !ok {
			continue
		}
		var count int64
		if sc.topologyKey == corev1.LabelHostname {
			count = int64(countMatching(n.pods, sc.selector, c.pod.pod.Namespace))
		} else {
			count = s.counts[i][value]
		}
		score += float64(count)*s.weights[i] + float64(sc.maxSkew-1)
	}
	return int64(math.Round(score))
}

func (podTopologySpread) normalize(c *cycle, scores []int64) {
	s := c.spreadScore
	ignored := func(i int) bool { return s.requireAll && !hasTopologyKeys(s.nodes[i].node, s.constraints) }
	lowest, highest := int64(math.MaxInt64), int64(0)
	for i, v := range scores {
		if ignored(i) {
			continue
		}
		lowest, highest = min(lowest, v), max(highest, v)
	}
	for i, v := range scores {
		switch {
		case ignored(i):
			scores[i] = 0
		case highest == 0:
			scores[i] = maxNodeScore
		default:
			scores[i] = maxNodeScore * (highest + lowest - v) / highest
		}
	}
}
