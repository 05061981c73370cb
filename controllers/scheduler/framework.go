package scheduler

import (
	"context"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/sets"
)

// maxNodeScore is the highest score a plugin gives a node after normalising.
const maxNodeScore int64 = 100

// code classifies a plugin's rejection.
type code int

const (
	// codeUnschedulable: the pod does not fit now but may once pods go (upstream's Unschedulable).
	codeUnschedulable code = iota + 1
	// codeUnresolvable: removing pods would not help (upstream's UnschedulableAndUnresolvable).
	codeUnresolvable
	// codeError: the plugin could not decide; the pod is retried after a backoff.
	codeError
)

// status is a plugin's rejection of a pod (on a node, for filters); nil means success.
type status struct {
	code    code
	reasons []string
	err     error
}

func unschedulable(reasons ...string) *status {
	return &status{code: codeUnschedulable, reasons: reasons}
}
func unresolvable(reasons ...string) *status {
	return &status{code: codeUnresolvable, reasons: reasons}
}
func errorStatus(err error) *status { return &status{code: codeError, err: err} }

// message is the status as upstream prints it: its reasons joined by ", ".
func (s *status) message() string {
	if s.err != nil {
		return s.err.Error()
	}
	return strings.Join(s.reasons, ", ")
}

// clusterEvent is a set of kinds of cluster change. Each plugin declares the changes that may make a
// pod it rejected fit, so that an unschedulable pod is retried only when one of those happens.
type clusterEvent uint32

const (
	nodeAdded clusterEvent = 1 << iota
	nodeAllocatableChanged
	nodeLabelsChanged
	// nodeTaintsChanged includes spec.unschedulable.
	nodeTaintsChanged
	assignedPodAdded
	assignedPodLabelsChanged
	// assignedPodRemoved: a pod on a node was deleted, finished, or shrank its requests.
	assignedPodRemoved
	pvcChanged
	pvChanged
	storageClassChanged
	namespaceChanged

	allEvents = ^clusterEvent(0)
)

// filterPlugin rejects nodes a pod cannot run on.
type filterPlugin interface {
	name() string
	// events are the cluster changes that may make a pod this plugin rejected fit.
	events() clusterEvent
	// preFilter prepares c for filter; skip means the plugin has nothing to check for this pod,
	// and a status rejects the pod on every node.
	preFilter(c *cycle) (skip bool, st *status)
	filter(c *cycle, n *nodeInfo) *status
}

// scorePlugin ranks the nodes a pod fits on.
type scorePlugin interface {
	name() string
	weight() int64
	// preScore prepares c for score over nodes; skip means the plugin has no opinion on this pod.
	preScore(c *cycle, nodes []*nodeInfo) (skip bool, err error)
	score(c *cycle, n *nodeInfo) int64
	// normalize brings the scores of all nodes, in place, into 0..maxNodeScore.
	normalize(c *cycle, scores []int64)
}

// cycle is one attempt to place one pod: its inputs and what each plugin computes for it, so that
// per-node work stays small.
type cycle struct {
	ctx    context.Context
	logger logr.Logger
	pod    *podInfo
	snap   *snapshot
	lister clusterLister

	// nodeNames, when not nil, are the only nodes the pod may go to (node affinity on
	// metadata.name), found in preFilter by nodeNamesPlugin.
	nodeNames       sets.Set[string]
	nodeNamesPlugin string

	nodeAffinity     nodeAffinityState
	taints           taintState
	balanced         balancedState
	spread           *spreadFilterState
	spreadScore      *spreadScoreState
	podAffinity      *podAffinityFilterState
	podAffinityScore *podAffinityScoreState
	volumes          volumeState
}

// reset makes c ready for a new pod, keeping nothing from the previous one.
func (c *cycle) reset(ctx context.Context, logger logr.Logger, pod *podInfo, snap *snapshot, lister clusterLister) {
	*c = cycle{ctx: ctx, logger: logger, pod: pod, snap: snap, lister: lister}
}

// defaultNormalize scales scores so the highest becomes maxNodeScore, reversed (highest becomes 0)
// when lower raw scores are better; all-zero scores become 0, or maxNodeScore when reversed.
func defaultNormalize(scores []int64, reverse bool) {
	var highest int64
	for _, s := range scores {
		highest = max(highest, s)
	}
	if highest == 0 {
		if reverse {
			for i := range scores {
				scores[i] = maxNodeScore
			}
		}
		return
	}
	for i, s := range scores {
		s = maxNodeScore * s / highest
		if reverse {
			s = maxNodeScore - s
		}
		scores[i] = s
	}
}
