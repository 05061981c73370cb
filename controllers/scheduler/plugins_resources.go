package scheduler

import "math"

// nodeResourcesFit rejects nodes whose allocatable resources, less what their pods request, cannot
// hold the pod's requests, and prefers the least allocated nodes (upstream's LeastAllocated
// strategy over cpu and memory, each of weight 1).
type nodeResourcesFit struct{}

func (nodeResourcesFit) name() string { return "NodeResourcesFit" }
func (nodeResourcesFit) events() clusterEvent {
	return nodeAdded | nodeAllocatableChanged | assignedPodRemoved
}
func (nodeResourcesFit) weight() int64                    { return 1 }
func (nodeResourcesFit) preFilter(*cycle) (bool, *status) { return false, nil }

func (nodeResourcesFit) filter(c *cycle, n *nodeInfo) *status {
	return fits(&c.pod.requests, n)
}

// fits checks pod requests against a node, keeping every reason it fails, as upstream's fitsRequest.
// A request larger than the node's whole allocatable makes the rejection unresolvable.
func fits(req *resources, n *nodeInfo) *status {
	var st *status
	fail := func(reason string, unresolvableToo bool) {
		if st == nil {
			st = &status{code: codeUnschedulable}
		}
		st.reasons = append(st.reasons, reason)
		if unresolvableToo {
			st.code = codeUnresolvable
		}
	}
	alloc, used := &n.allocatable, &n.requested
	if int64(len(n.pods))+1 > alloc.pods {
		fail("Too many pods", false)
	}
	if req.isZero() {
		return st
	}
	if req.milliCPU > 0 && req.milliCPU > alloc.milliCPU-used.milliCPU {
		fail("Insufficient cpu", req.milliCPU > alloc.milliCPU)
	}
	if req.memory > 0 && req.memory > alloc.memory-used.memory {
		fail("Insufficient memory", req.memory > alloc.memory)
	}
	if req.ephemeralStorage > 0 && req.ephemeralStorage > alloc.ephemeralStorage-used.ephemeralStorage {
		fail("Insufficient ephemeral-storage", req.ephemeralStorage > alloc.ephemeralStorage)
	}
	for name, q := range req.scalar {
		if q > 0 && q > alloc.scalar[name]-used.scalar[name] {
			fail("Insufficient "+string(name), q > alloc.scalar[name])
		}
	}
	return st
}

func (nodeResourcesFit) preScore(*cycle, []*nodeInfo) (bool, error) { return false, nil }

// score is the mean over cpu and memory of the share left free once the pod is placed, counting
// containers without requests as asking for the defaults.
func (nodeResourcesFit) score(c *cycle, n *nodeInfo) int64 {
	var total, weights int64
	if alloc := n.allocatable.milliCPU; alloc > 0 {
		total += leastRequestedScore(n.nonZeroRequested.milliCPU+c.pod.nonZeroCPU, alloc)
		weights++
	}
	if alloc := n.allocatable.memory; alloc > 0 {
		total += leastRequestedScore(n.nonZeroRequested.memory+c.pod.nonZeroMemory, alloc)
		weights++
	}
	if weights == 0 {
		return 0
	}
	return total / weights
}

func leastRequestedScore(requested, capacity int64) int64 {
	if capacity == 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * maxNodeScore / capacity
}

func (nodeResourcesFit) normalize(*cycle, []int64) {}

// balancedAllocation prefers nodes where, once the pod is placed, the requested shares of cpu and of
// memory are close to each other (upstream's NodeResourcesBalancedAllocation).
type balancedAllocation struct{}

type balancedState struct {
	cpu, memory int64
}

func (balancedAllocation) name() string  { return "NodeResourcesBalancedAllocation" }
func (balancedAllocation) weight() int64 { return 1 }

// preScore skips pods without requests: balancing on them would pile best-effort pods on one node.
func (balancedAllocation) preScore(c *cycle, _ []*nodeInfo) (bool, error) {
	c.balanced = balancedState{cpu: c.pod.requests.milliCPU, memory: c.pod.requests.memory}
	return c.balanced.cpu == 0 && c.balanced.memory == 0, nil
}

func (balancedAllocation) score(c *cycle, n *nodeInfo) int64 {
	var fractions [2]float64
	count := 0
	add := func(requested, alloc int64) {
		if alloc == 0 {
			return
		}
		fractions[count] = min(float64(requested)/float64(alloc), 1)
		count++
	}
	add(n.requested.milliCPU+c.balanced.cpu, n.allocatable.milliCPU)
	add(n.requested.memory+c.balanced.memory, n.allocatable.memory)
	std := 0.0
	if count == 2 {
		std = math.Abs((fractions[0] - fractions[1]) / 2)
	}
	return int64((1 - std) * float64(maxNodeScore))
}

func (balancedAllocation) normalize(*cycle, []int64) {}
