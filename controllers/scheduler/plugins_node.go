package scheduler

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// Reasons nodes are rejected for, as upstream's plugins word them.
const (
	reasonNodeUnschedulable = "node(s) were unschedulable"
	reasonNodeName          = "node(s) didn't match the requested node name"
	reasonNodeAffinity      = "node(s) didn't match Pod's node affinity/selector"
	reasonAffinityConflict  = "pod affinity terms conflict"
	reasonNodePorts         = "node(s) didn't have free ports for the requested pod ports"
)

// tolerationComparisons lets tolerations use the Gt and Lt operators, which the API may accept.
const tolerationComparisons = true

// nodeUnschedulable rejects cordoned nodes (spec.unschedulable) unless the pod tolerates the
// node.kubernetes.io/unschedulable taint.
type nodeUnschedulable struct{}

func (nodeUnschedulable) name() string                     { return "NodeUnschedulable" }
func (nodeUnschedulable) events() clusterEvent             { return nodeAdded | nodeTaintsChanged }
func (nodeUnschedulable) preFilter(*cycle) (bool, *status) { return false, nil }

func (nodeUnschedulable) filter(c *cycle, n *nodeInfo) *status {
	if !n.node.Spec.Unschedulable {
		return nil
	}
	taint := corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	if corev1helpers.TolerationsTolerateTaint(c.logger, c.pod.pod.Spec.Tolerations, &taint, tolerationComparisons) {
		return nil
	}
	return unresolvable(reasonNodeUnschedulable)
}

// nodeName rejects every node but the one a pod names in spec.nodeName.
type nodeName struct{}

func (nodeName) name() string         { return "NodeName" }
func (nodeName) events() clusterEvent { return nodeAdded }

func (nodeName) preFilter(c *cycle) (bool, *status) {
	return c.pod.pod.Spec.NodeName == "", nil
}

func (nodeName) filter(c *cycle, n *nodeInfo) *status {
	if c.pod.pod.Spec.NodeName != n.node.Name {
		return unresolvable(reasonNodeName)
	}
	return nil
}

// taintToleration rejects nodes with NoSchedule or NoExecute taints the pod does not tolerate, and
// prefers nodes with fewer untolerated PreferNoSchedule taints.
type taintToleration struct{}

type taintState struct {
	// preferNoSchedule are the pod's tolerations that may tolerate PreferNoSchedule taints.
	preferNoSchedule []corev1.Toleration
}

func (taintToleration) name() string                     { return "TaintToleration" }
func (taintToleration) events() clusterEvent             { return nodeAdded | nodeTaintsChanged }
func (taintToleration) weight() int64                    { return 3 }
func (taintToleration) preFilter(*cycle) (bool, *status) { return false, nil }

func (taintToleration) filter(c *cycle, n *nodeInfo) *status {
	if len(n.node.Spec.Taints) == 0 {
		return nil
	}
	taint, untolerated := corev1helpers.FindMatchingUntoleratedTaint(c.logger, n.node.Spec.Taints, c.pod.pod.Spec.Tolerations,
		func(t *corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}, tolerationComparisons)
	if !untolerated {
		return nil
	}
	return unresolvable(fmt.Sprintf("node(s) had untolerated taint {%s: %s}", taint.Key, taint.Value))
}

func (taintToleration) preScore(c *cycle, _ []*nodeInfo) (bool, error) {
	for _, t := range c.pod.pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == corev1.TaintEffectPreferNoSchedule {
			c.taints.preferNoSchedule = append(c.taints.preferNoSchedule, t)
		}
	}
	return false, nil
}

// score counts the node's PreferNoSchedule taints the pod does not tolerate; fewer is better.
func (taintToleration) score(c *cycle, n *nodeInfo) int64 {
	var count int64
	for i := range n.node.Spec.Taints {
		t := &n.node.Spec.Taints[i]
		if t.Effect != corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !corev1helpers.TolerationsTolerateTaint(c.logger, c.taints.preferNoSchedule, t, tolerationComparisons) {
			count++
		}
	}
	return count
}

func (taintToleration) normalize(_ *cycle, scores []int64) { defaultNormalize(scores, true) }

// nodeAffinityPlugin rejects nodes that do not match a pod's nodeSelector and required node
// affinity, and scores nodes by the weights of the preferred node affinity terms they match.
type nodeAffinityPlugin struct{}

type nodeAffinityState struct {
	required  nodeaffinity.RequiredNodeAffinity
	preferred *nodeaffinity.PreferredSchedulingTerms
}

func (nodeAffinityPlugin) name() string         { return "NodeAffinity" }
func (nodeAffinityPlugin) events() clusterEvent { return nodeAdded | nodeLabelsChanged }
func (nodeAffinityPlugin) weight() int64        { return 2 }

func (p nodeAffinityPlugin) preFilter(c *cycle) (bool, *status) {
	pod := c.pod.pod
	a := pod.Spec.Affinity
	noAffinity := a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil
	if noAffinity && len(pod.Spec.NodeSelector) == 0 {
		return true, nil
	}
	c.nodeAffinity.required = nodeaffinity.GetRequiredNodeAffinity(pod)
	if noAffinity {
		return false, nil
	}
	// Terms are ORed; the pod is limited to named nodes only if every term names nodes.
	var names sets.Set[string]
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		var termNames sets.Set[string]
		for _, r := range term.MatchFields {
			if r.Key == metav1.ObjectNameField && r.Operator == corev1.NodeSelectorOpIn {
				s := sets.New(r.Values...)
				if termNames == nil {
					termNames = s
				} else {
					termNames = termNames.Intersection(s)
				}
			}
		}
		if termNames == nil {
			return false, nil
		}
		names = names.Union(termNames)
	}
	if names != nil && names.Len() == 0 {
		return false, unresolvable(reasonAffinityConflict)
	}
	if names.Len() > 0 {
		c.nodeNames, c.nodeNamesPlugin = names, p.name()
	}
	return false, nil
}

func (nodeAffinityPlugin) filter(c *cycle, n *nodeInfo) *status {
	// A selector that does not parse matches nothing, as upstream (validation keeps it rare).
	if ok, _ := c.nodeAffinity.required.Match(n.node); !ok {
		return unresolvable(reasonNodeAffinity)
	}
	return nil
}

func (nodeAffinityPlugin) preScore(c *cycle, _ []*nodeInfo) (bool, error) {
	a := c.pod.pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return true, nil
	}
	terms, err := nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	if err != nil {
		return false, fmt.Errorf("parsing preferred node affinity: %w", err)
	}
	c.nodeAffinity.preferred = terms
	return false, nil
}

func (nodeAffinityPlugin) score(c *cycle, n *nodeInfo) int64 {
	return c.nodeAffinity.preferred.Score(n.node)
}

func (nodeAffinityPlugin) normalize(_ *cycle, scores []int64) { defaultNormalize(scores, false) }

// nodePorts rejects nodes where a host port the pod asks for is taken.
type nodePorts struct{}

func (nodePorts) name() string         { return "NodePorts" }
func (nodePorts) events() clusterEvent { return nodeAdded | assignedPodRemoved }

func (nodePorts) preFilter(c *cycle) (bool, *status) {
	return len(c.pod.hostPorts) == 0, nil
}

func (nodePorts) filter(c *cycle, n *nodeInfo) *status {
	for _, p := range c.pod.hostPorts {
		if conflicts(n.usedPorts, p) {
			return unschedulable(reasonNodePorts)
		}
	}
	return nil
}
