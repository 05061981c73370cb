package daemonset

import (
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// podsByNode maps each node name to ds's pods meant for it. Pods that have finished and are being
// deleted are gone for all purposes; pods that name no node are left out.
func podsByNode(pods []*corev1.Pod) map[string][]*corev1.Pod {
	byNode := map[string][]*corev1.Pod{}
	for _, pod := range pods {
		if isTerminal(pod) && pod.DeletionTimestamp != nil {
			continue
		}
		node, err := targetNode(pod)
		if err != nil {
			continue
		}
		byNode[node] = append(byNode[node], pod)
	}
	return byNode
}

// failedPod is a failed daemon pod to delete, on its node.
type failedPod struct {
	pod  *corev1.Pod
	node string
}

// decisions are the writes one pass over the nodes asks for.
type decisions struct {
	// createOn are the nodes that need a pod.
	createOn []string
	// remove are pods to delete: surplus, on nodes that must not run ds, or finished.
	remove []*corev1.Pod
	// failed are failed pods to delete so that they are made again, subject to a backoff per node.
	failed []failedPod
}

// manage decides, node by node, which pods of ds to create and delete: a pod on every node that should
// run one and has none; failed pods deleted (to be made again); on nodes that must not run ds, every pod
// deleted; beyond one pod a node (two during a surge: one old, one new), the surplus deleted, keeping
// the oldest. Pods for nodes that no longer exist and were never scheduled are deleted too.
func manage(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string, now time.Time) decisions {
	var d decisions
	exists := make(map[string]bool, len(nodes))
	for _, node := range nodes {
		exists[node.Name] = true
		d.onNode(ds, node, byNode[node.Name], hash, now)
	}
	for _, name := range sortedKeys(byNode) {
		if exists[name] {
			continue
		}
		for _, pod := range byNode[name] {
			if pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil {
				d.remove = append(d.remove, pod)
			}
		}
	}
	return d
}

func (d *decisions) onNode(ds *appsv1.DaemonSet, node *corev1.Node, pods []*corev1.Pod, hash string, now time.Time) {
	shouldRun, shouldContinueRunning := nodeShouldRun(ds, node)
	switch {
	case shouldRun && len(pods) == 0:
		d.createOn = append(d.createOn, node.Name)
	case shouldContinueRunning:
		var running []*corev1.Pod
		for _, pod := range pods {
			switch {
			case pod.DeletionTimestamp != nil:
			case pod.Status.Phase == corev1.PodFailed:
				d.failed = append(d.failed, failedPod{pod: pod, node: node.Name})
			case pod.Status.Phase == corev1.PodSucceeded:
				// A daemon should run forever: one that ended is made again.
				d.remove = append(d.remove, pod)
			default:
				running = append(running, pod)
			}
		}
		sortPods(running)
		if !allowsSurge(ds) {
			if len(running) > 1 {
				d.remove = append(d.remove, running[1:]...)
			}
			return
		}
		if len(running) <= 1 {
			if len(running) == 0 && shouldRun {
				// Surging keeps a pod on every node at all times.
				d.createOn = append(d.createOn, node.Name)
			}
			return
		}
		// Surging allows an old and a new pod on a node until the new one is available: keep the
		// oldest of each, delete the rest, and the old one once the new one is available (or if the
		// old one is not even ready).
		var oldestNew, oldestOld *corev1.Pod
		for _, pod := range running {
			if isUpdated(pod, hash) {
				if oldestNew == nil {
					oldestNew = pod
					continue
				}
			} else if oldestOld == nil {
				oldestOld = pod
				continue
			}
			d.remove = append(d.remove, pod)
		}
		if oldestNew != nil && oldestOld != nil &&
			(!isReady(oldestOld) || isAvailable(oldestNew, ds.Spec.MinReadySeconds, now)) {
			d.remove = append(d.remove, oldestOld)
		}
	case len(pods) > 0:
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				d.remove = append(d.remove, pod)
			}
		}
	}
}

// rollingUpdate picks the old pods to delete and the nodes to surge onto, as upstream. Without surge,
// old pods are deleted (and made again at the update by manage) while at most maxUnavailable of the
// nodes' pods are unavailable; old pods that are unavailable anyway are replaced at once. With surge, a
// new pod is made beside an old one on up to maxSurge nodes at once, and the old one is deleted once
// the new one is available.
func rollingUpdate(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string, now time.Time) (remove []*corev1.Pod, createOn []string) {
	nodeByName := make(map[string]*corev1.Node, len(nodes))
	desired := 0
	perNode := make(map[string][]*corev1.Pod, len(byNode))
	for name, pods := range byNode {
		perNode[name] = pods
	}
	for _, node := range nodes {
		nodeByName[node.Name] = node
		if shouldRun, _ := nodeShouldRun(ds, node); shouldRun {
			desired++
			if _, ok := perNode[node.Name]; !ok {
				perNode[node.Name] = nil
			}
		}
	}
	maxSurge, maxUnavailable := surgeCount(ds, desired), unavailableCount(ds, desired)
	if desired > 0 && maxSurge == 0 && maxUnavailable == 0 {
		maxUnavailable = 1
	}
	minReady := ds.Spec.MinReadySeconds
	names := sortedKeys(perNode)

	if maxSurge == 0 {
		unavailable := 0
		var replace, candidates []*corev1.Pod
		for _, name := range names {
			newPod, oldPod, ok := updatedPodsOnNode(perNode[name], hash)
			switch {
			case !ok:
				// manage prunes the surplus first.
				unavailable++
			case (oldPod == nil) == (newPod == nil):
				// manage creates the missing pod, or deletes one of the two.
				unavailable++
			case newPod != nil:
				if !isAvailable(newPod, minReady, now) {
					unavailable++
				}
			case !isAvailable(oldPod, minReady, now):
				replace = append(replace, oldPod)
				unavailable++
			case unavailable < maxUnavailable:
				candidates = append(candidates, oldPod)
			}
		}
		budget := max(0, min(maxUnavailable-unavailable, len(candidates)))
		return append(replace, candidates[:budget]...), nil
	}

	var surged, available int
	var candidates, allowed []string
	var shouldNotRun []*corev1.Pod
	for _, name := range names {
		newPod, oldPod, ok := updatedPodsOnNode(perNode[name], hash)
		if !ok {
			surged++
			continue
		}
		switch {
		case oldPod != nil && isAvailable(oldPod, minReady, now), oldPod == nil && newPod != nil && isAvailable(newPod, minReady, now):
			available++
		}
		node := nodeByName[name]
		switch {
		case oldPod == nil:
		case newPod == nil:
			shouldRun := false
			if node != nil {
				shouldRun, _ = nodeShouldRun(ds, node)
			}
			switch {
			case !isAvailable(oldPod, minReady, now) && !shouldRun:
				remove = append(remove, oldPod)
			case !isAvailable(oldPod, minReady, now):
				allowed = append(allowed, name)
			case !shouldRun:
				shouldNotRun = append(shouldNotRun, oldPod)
			case surged < maxSurge:
				candidates = append(candidates, name)
			}
		default:
			if !isAvailable(newPod, minReady, now) {
				surged++
				continue
			}
			remove = append(remove, oldPod)
		}
	}
	// Pods on nodes that must no longer run ds go only while enough others are available elsewhere.
	if deletable := min(available-desired, len(shouldNotRun)); deletable > 0 {
		remove = append(remove, shouldNotRun[:deletable]...)
	}
	budget := max(0, min(maxSurge-surged, len(candidates)))
	return remove, append(allowed, candidates[:budget]...)
}

// updatedPodsOnNode returns the node's pod at the update (new) and its pod at an older revision (old),
// ignoring pods being deleted; ok is false if there are several of either.
func updatedPodsOnNode(pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if isUpdated(pod, hash) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = pod
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = pod
		}
	}
	return newPod, oldPod, true
}

// computeStatus counts, over the nodes that should run ds, the nodes with a pod, whose first pod is
// ready, available and updated, and the nodes running a pod that should not.
func computeStatus(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string, now time.Time) appsv1.DaemonSetStatus {
	status := appsv1.DaemonSetStatus{
		ObservedGeneration: ds.Status.ObservedGeneration,
		CollisionCount:     ds.Status.CollisionCount,
		Conditions:         ds.Status.Conditions,
	}
	for _, node := range nodes {
		shouldRun, _ := nodeShouldRun(ds, node)
		pods := byNode[node.Name]
		switch {
		case shouldRun && len(pods) > 0:
			status.DesiredNumberScheduled++
			status.CurrentNumberScheduled++
			pods = append([]*corev1.Pod(nil), pods...)
			sortPods(pods)
			pod := pods[0]
			if isReady(pod) {
				status.NumberReady++
				if isAvailable(pod, ds.Spec.MinReadySeconds, now) {
					status.NumberAvailable++
				}
			}
			if isUpdated(pod, hash) {
				status.UpdatedNumberScheduled++
			}
		case shouldRun:
			status.DesiredNumberScheduled++
		case len(pods) > 0:
			status.NumberMisscheduled++
		}
	}
	status.NumberUnavailable = status.DesiredNumberScheduled - status.NumberAvailable
	return status
}

// nextAvailability is how long until the first ready pod not yet available for minReadySeconds becomes
// available; zero if none is waiting.
func nextAvailability(ds *appsv1.DaemonSet, pods []*corev1.Pod, now time.Time) time.Duration {
	var next time.Duration
	for _, pod := range pods {
		if d := availableIn(pod, ds.Spec.MinReadySeconds, now); d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	return next
}

// surgeCount is how many nodes may run an extra pod during a rolling update: maxSurge of the nodes that
// should run ds, rounded up.
func surgeCount(ds *appsv1.DaemonSet, desired int) int {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxSurge == nil {
		return 0
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, desired, true)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// unavailableCount is how many nodes may be without an available pod during a rolling update:
// maxUnavailable of the nodes that should run ds, rounded up.
func unavailableCount(ds *appsv1.DaemonSet, desired int) int {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxUnavailable == nil {
		return 0
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, true)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// allowsSurge tells whether ds's rolling update surges (maxSurge above zero).
func allowsSurge(ds *appsv1.DaemonSet) bool { return surgeCount(ds, 1) > 0 }

func isUpdated(pod *corev1.Pod, hash string) bool {
	return hash != "" && pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
}

func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func isReady(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

// availableIn is how long until the ready pod has been ready for minReadySeconds: zero if it has,
// negative if it is not ready.
func availableIn(pod *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	c := readyCondition(pod)
	if c == nil || c.Status != corev1.ConditionTrue {
		return -1
	}
	if minReadySeconds == 0 {
		return 0
	}
	if c.LastTransitionTime.IsZero() {
		return -1
	}
	at := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second)
	if now.After(at) {
		return 0
	}
	return at.Sub(now) + time.Millisecond
}

func isAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return availableIn(pod, minReadySeconds, now) == 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
