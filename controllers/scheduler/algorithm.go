package scheduler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
)

const (
	// minFeasibleNodesToFind is the fewest feasible nodes a search looks for before it stops.
	minFeasibleNodesToFind = 100
	// minFeasibleNodesPercentageToFind is the smallest share of the nodes a search looks for.
	minFeasibleNodesPercentageToFind = 5
)

// errNoNodes is upstream's error when the cluster has no node at all.
var errNoNodes = errors.New("no nodes available to schedule pods")

// fitError says why no node fits a pod, as upstream's FitError: how many nodes failed for each
// reason, or the reason the pod fails everywhere.
type fitError struct {
	numAllNodes  int
	preFilterMsg string
	reasons      map[string]int
	// events are the cluster changes that may make the pod fit.
	events clusterEvent
}

func (e *fitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "0/%d nodes are available:", e.numAllNodes)
	if e.preFilterMsg != "" {
		fmt.Fprintf(&b, " %s.", e.preFilterMsg)
	} else if len(e.reasons) > 0 {
		histogram := make([]string, 0, len(e.reasons))
		for reason, n := range e.reasons {
			histogram = append(histogram, fmt.Sprintf("%d %s", n, reason))
		}
		sort.Strings(histogram)
		fmt.Fprintf(&b, " %s.", strings.Join(histogram, ", "))
	}
	// This scheduler does not preempt; upstream's preemption says the same when it cannot help.
	fmt.Fprintf(&b, " preemption: 0/%d nodes are available: %d Preemption is not helpful for scheduling.", e.numAllNodes, e.numAllNodes)
	return b.String()
}

func (e *fitError) add(st *status, events clusterEvent, nodes int) {
	if e.reasons == nil {
		e.reasons = map[string]int{}
	}
	for _, r := range st.reasons {
		e.reasons[r] += nodes
	}
	e.events |= events
}

// algorithm places one pod at a time: filter plugins keep the nodes the pod fits on, searching only
// until enough are found; score plugins rank those; the best wins, ties broken at random. It is used
// by one goroutine only and reuses its buffers from pod to pod.
type algorithm struct {
	filters []filterPlugin
	scorers []scorePlugin
	// percentageOfNodesToScore is the share of nodes to find feasible before scoring; 0 adapts it
	// to the cluster's size as upstream does.
	percentageOfNodesToScore int32
	// nextStart is where the next search over all nodes begins, so that every node gets its turn.
	nextStart int
	rng       *rand.Rand

	skipFilter []bool
	restricted []*nodeInfo
	feasible   []*nodeInfo
	scores     [][]int64
	totals     []int64
}

// newAlgorithm returns the default profile: upstream's filter order, and its score plugins with
// their default weights.
func newAlgorithm(percentageOfNodesToScore int32, rng *rand.Rand, pvs *pvAssumptions) *algorithm {
	taints, affinity, fit := taintToleration{}, nodeAffinityPlugin{}, nodeResourcesFit{}
	spread, podAffinity := podTopologySpread{}, interPodAffinity{}
	a := &algorithm{
		filters: []filterPlugin{nodeUnschedulable{}, nodeName{}, taints, affinity, nodePorts{}, fit,
			volumeBinding{assumed: pvs}, spread, podAffinity},
		scorers:                  []scorePlugin{taints, affinity, fit, spread, podAffinity, balancedAllocation{}},
		percentageOfNodesToScore: percentageOfNodesToScore,
		rng:                      rng,
	}
	a.skipFilter = make([]bool, len(a.filters))
	a.scores = make([][]int64, len(a.scorers))
	return a
}

// numFeasibleNodesToFind is how many feasible nodes a search stops at: all of a small cluster, else
// a percentage that shrinks as the cluster grows (50% less 1% per 125 nodes, at least 5%), and never
// fewer than 100 nodes.
func numFeasibleNodesToFind(percentage int32, numAllNodes int) int {
	if numAllNodes < minFeasibleNodesToFind {
		return numAllNodes
	}
	if percentage <= 0 {
		percentage = max(int32(50)-int32(numAllNodes/125), minFeasibleNodesPercentageToFind)
	}
	if percentage >= 100 {
		return numAllNodes
	}
	return max(numAllNodes*int(percentage)/100, minFeasibleNodesToFind)
}

// schedule returns the node for c's pod. It returns a *fitError when no node fits and any other
// error when a plugin could not decide.
func (a *algorithm) schedule(c *cycle) (string, error) {
	all := c.snap.list
	if len(all) == 0 {
		return "", errNoNodes
	}
	for i, p := range a.filters {
		skip, st := p.preFilter(c)
		if st != nil {
			if st.code == codeError {
				return "", fmt.Errorf("running PreFilter plugin %q: %w", p.name(), st.err)
			}
			return "", &fitError{numAllNodes: len(all), preFilterMsg: st.message(), events: p.events()}
		}
		a.skipFilter[i] = skip
	}

	nodes := all
	if c.nodeNames != nil {
		a.restricted = a.restricted[:0]
		for name := range c.nodeNames {
			if n, ok := c.snap.nodes[name]; ok {
				a.restricted = append(a.restricted, n)
			}
		}
		slices.SortFunc(a.restricted, func(x, y *nodeInfo) int { return strings.Compare(x.name(), y.name()) })
		nodes = a.restricted
	}
	feasible, fe, err := a.findFeasible(c, nodes, c.nodeNames == nil)
	if err != nil {
		return "", err
	}
	if len(feasible) == 0 {
		if fe == nil {
			fe = &fitError{}
		}
		fe.numAllNodes = len(all)
		if absent := len(all) - len(nodes); absent > 0 {
			fe.add(unresolvable(fmt.Sprintf("node(s) didn't satisfy plugin(s) [%s]", c.nodeNamesPlugin)), nodeAdded|nodeLabelsChanged, absent)
		}
		return "", fe
	}
	if len(feasible) == 1 {
		return feasible[0].name(), nil
	}
	return a.pickBest(c, feasible)
}

// findFeasible filters nodes, starting at the rotating index when searching all nodes, until
// numFeasibleNodesToFind are found. The fitError counts the rejections, if any.
func (a *algorithm) findFeasible(c *cycle, nodes []*nodeInfo, rotate bool) ([]*nodeInfo, *fitError, error) {
	want := numFeasibleNodesToFind(a.percentageOfNodesToScore, len(nodes))
	start := 0
	if rotate {
		start = a.nextStart % len(nodes)
	}
	feasible := a.feasible[:0]
	var fe *fitError
	examined := 0
	for i := 0; i < len(nodes) && len(feasible) < want; i++ {
		n := nodes[(start+i)%len(nodes)]
		examined++
		st, p := a.filter(c, n)
		if st == nil {
			feasible = append(feasible, n)
			continue
		}
		if st.code == codeError {
			return nil, nil, fmt.Errorf("running Filter plugin %q on node %q: %w", p.name(), n.name(), st.err)
		}
		if fe == nil {
			fe = &fitError{}
		}
		fe.add(st, p.events(), 1)
	}
	if rotate {
		a.nextStart = (start + examined) % len(nodes)
	}
	a.feasible = feasible
	return feasible, fe, nil
}

// filter runs the filter plugins on n in order and returns the first rejection and its plugin.
func (a *algorithm) filter(c *cycle, n *nodeInfo) (*status, filterPlugin) {
	for i, p := range a.filters {
		if a.skipFilter[i] {
			continue
		}
		if st := p.filter(c, n); st != nil {
			return st, p
		}
	}
	return nil, nil
}

// pickBest scores the feasible nodes with every plugin, normalises and weighs the scores, and
// returns the node with the highest total, choosing uniformly among equals.
func (a *algorithm) pickBest(c *cycle, feasible []*nodeInfo) (string, error) {
	totals := slices.Grow(a.totals[:0], len(feasible))[:len(feasible)]
	clear(totals)
	a.totals = totals
	for i, p := range a.scorers {
		skip, err := p.preScore(c, feasible)
		if err != nil {
			return "", fmt.Errorf("running PreScore plugin %q: %w", p.name(), err)
		}
		if skip {
			continue
		}
		scores := slices.Grow(a.scores[i][:0], len(feasible))[:len(feasible)]
		a.scores[i] = scores
		for j, n := range feasible {
			scores[j] = p.score(c, n)
		}
		p.normalize(c, scores)
		w := p.weight()
		for j, s := range scores {
			totals[j] += s * w
		}
	}
	best, ties := 0, 1
	for j := 1; j < len(totals); j++ {
		switch {
		case totals[j] > totals[best]:
			best, ties = j, 1
		case totals[j] == totals[best]:
			ties++
			if a.rng.IntN(ties) == 0 {
				best = j
			}
		}
	}
	return feasible[best].name(), nil
}
