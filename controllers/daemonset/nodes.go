package daemonset

import (
	"fmt"
	"sort"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	schedulingcorev1 "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

var dsKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// nodeNameField is the node field a daemon pod's node affinity selects its node by.
const nodeNameField = "metadata.name"

// daemonTolerations are the tolerations every daemon pod gets, as upstream: a daemon keeps running on a
// node that is not ready, unreachable, under pressure or cordoned, since it often is what the node needs.
var daemonTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// hostNetworkToleration is added for daemons on the host network, which need no pod network.
var hostNetworkToleration = corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// addDaemonTolerations adds the daemon tolerations to spec; one the spec has with the same key, operator,
// value and effect is replaced (so it tolerates forever).
func addDaemonTolerations(spec *corev1.PodSpec) {
	add := func(t corev1.Toleration) {
		for i := range spec.Tolerations {
			if spec.Tolerations[i].MatchToleration(&t) {
				spec.Tolerations[i] = t
				return
			}
		}
		spec.Tolerations = append(spec.Tolerations, t)
	}
	for _, t := range daemonTolerations {
		add(t)
	}
	if spec.HostNetwork {
		add(hostNetworkToleration)
	}
}

// podTemplate is the template ds's pods are made from: its own, with the daemon tolerations and the
// controller-revision-hash label of the current revision.
func podTemplate(ds *appsv1.DaemonSet, hash string) *corev1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	addDaemonTolerations(&t.Spec)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if hash != "" {
		t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	return t
}

// newPod returns ds's pod for node, made from template: named after ds, controlled by it, and bound to
// the node by a required node affinity on the node's name, so that the scheduler places it there
// (upstream's ScheduleDaemonSetPods) and weighs it like any pod.
func newPod(ds *appsv1.DaemonSet, template *corev1.PodTemplateSpec, node string) *corev1.Pod {
	t := template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    ds.Name + "-",
			Namespace:       ds.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, dsKind)},
		},
		Spec: t.Spec,
	}
	pod.Spec.Affinity = bindToNode(pod.Spec.Affinity, node)
	return pod
}

// bindToNode returns affinity with its required node affinity replaced by one selecting the node named
// node. The template's own required terms need not be kept: the node was chosen because it meets them.
func bindToNode(affinity *corev1.Affinity, node string) *corev1.Affinity {
	selector := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchFields: []corev1.NodeSelectorRequirement{{Key: nodeNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
	}}}
	if affinity == nil {
		affinity = &corev1.Affinity{}
	}
	if affinity.NodeAffinity == nil {
		affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = selector
	return affinity
}

// targetNode is the node pod is for: the node it is bound to, or, before the scheduler binds it, the one
// its node affinity selects by name.
func targetNode(pod *corev1.Pod) (string, error) {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName, nil
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return "", fmt.Errorf("pod %s/%s has no required node affinity", pod.Namespace, pod.Name)
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, req := range term.MatchFields {
			if req.Key == nodeNameField && req.Operator == corev1.NodeSelectorOpIn {
				if len(req.Values) != 1 {
					return "", fmt.Errorf("pod %s/%s selects %d nodes by name", pod.Namespace, pod.Name, len(req.Values))
				}
				return req.Values[0], nil
			}
		}
	}
	return "", fmt.Errorf("pod %s/%s selects no node by name", pod.Namespace, pod.Name)
}

// nodeShouldRun tells whether ds wants a pod on node (shouldRun: its template's node name, node
// selector, required node affinity and tolerations, with the daemon tolerations, fit the node), and
// whether a pod already there may stay (shouldContinueRunning: it fits, or only a NoSchedule taint is
// not tolerated, which keeps new pods away but does not evict).
func nodeShouldRun(ds *appsv1.DaemonSet, node *corev1.Node) (shouldRun, shouldContinueRunning bool) {
	spec := &ds.Spec.Template.Spec
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return false, false
	}
	if fits, err := nodeaffinity.NewRequiredNodeAffinity(spec.NodeSelector, spec.Affinity).Match(node); err != nil || !fits {
		return false, false
	}
	tolerations := append(append([]corev1.Toleration(nil), spec.Tolerations...), daemonTolerations...)
	if spec.HostNetwork {
		tolerations = append(tolerations, hostNetworkToleration)
	}
	untolerated := func(effects ...corev1.TaintEffect) bool {
		_, found := schedulingcorev1.FindMatchingUntoleratedTaint(logr.Discard(), node.Spec.Taints, tolerations, func(t *corev1.Taint) bool {
			for _, e := range effects {
				if t.Effect == e {
					return true
				}
			}
			return false
		}, false)
		return found
	}
	if untolerated(corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute) {
		return false, !untolerated(corev1.TaintEffectNoExecute)
	}
	return true, true
}

// sortPods orders the pods of one node: bound pods first, then the oldest, then by name. The first is
// the one that counts for the node, and the one kept when there are several.
func sortPods(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName != "") != (b.Spec.NodeName != "") {
			return a.Spec.NodeName != ""
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}
