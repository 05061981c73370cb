package deployment

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/dump"
	"k8s.io/utils/ptr"
)

// Annotations the controller writes, as upstream.
const (
	// RevisionAnnotation is the rollout sequence number of a ReplicaSet, and of its Deployment the
	// number of its newest ReplicaSet.
	RevisionAnnotation = "deployment.kubernetes.io/revision"
	// RevisionHistoryAnnotation lists the earlier revisions a ReplicaSet served, when a rollback reused it.
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	// DesiredReplicasAnnotation is the Deployment's replicas when the ReplicaSet was last scaled: it tells a
	// scaling of the Deployment from a rollout.
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	// MaxReplicasAnnotation is the Deployment's replicas plus its surge when the ReplicaSet was last
	// scaled: the base of the ReplicaSet's share when the Deployment is scaled during a rollout.
	MaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"
)

// maxRevisionHistoryLength bounds the revision-history annotation, in characters, as upstream.
const maxRevisionHistoryLength = 2000

// annotationsNotCopied are the Deployment annotations its ReplicaSets do not inherit.
var annotationsNotCopied = map[string]bool{
	corev1.LastAppliedConfigAnnotation: true,
	RevisionAnnotation:                 true,
	RevisionHistoryAnnotation:          true,
	DesiredReplicasAnnotation:          true,
	MaxReplicasAnnotation:              true,
	appsv1.DeprecatedRollbackTo:        true,
}

// templateHash is the pod-template-hash of a pod template, as upstream's ComputeHash: FNV-32a over a
// dump of the template and then the collision count, written in rand.SafeEncodeString's alphabet.
func templateHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*template))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// equalIgnoreHash tells whether two pod templates are the same but for their pod-template-hash labels.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	// Semantic equality takes an empty map for a missing one.
	return equality.Semantic.DeepEqual(a, b)
}

// newReplicaSet is the ReplicaSet d needs for its current template, named after d and the template's
// hash, owned by d, empty.
func newReplicaSet(d *appsv1.Deployment, hash string) *appsv1.ReplicaSet {
	template := *d.Spec.Template.DeepCopy()
	template.Labels = withLabel(template.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	selector := d.Spec.Selector.DeepCopy()
	if selector == nil {
		selector = &metav1.LabelSelector{}
	}
	selector.MatchLabels = withLabel(selector.MatchLabels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)},
			Labels:          template.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        ptr.To(int32(0)),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        template,
		},
	}
}

func withLabel(m map[string]string, key, value string) map[string]string {
	c := make(map[string]string, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	c[key] = value
	return c
}

// findNewReplicaSet is the ReplicaSet whose template is d's, the oldest if several are, or nil.
func findNewReplicaSet(d *appsv1.Deployment, sets []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := sortedByCreation(sets)
	for _, rs := range sorted {
		if equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// oldReplicaSets are the ReplicaSets of sets other than newRS.
func oldReplicaSets(sets []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var old []*appsv1.ReplicaSet
	for _, rs := range sets {
		if newRS == nil || rs.UID != newRS.UID {
			old = append(old, rs)
		}
	}
	return old
}

// revision is the revision annotation of rs: 0 when there is none, an error when it is not a number.
func revision(rs *appsv1.ReplicaSet) (int64, error) {
	v, ok := rs.Annotations[RevisionAnnotation]
	if !ok || v == "" {
		return 0, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

// maxRevision is the highest revision of sets (invalid revisions count as 0).
func maxRevision(sets []*appsv1.ReplicaSet) int64 {
	var highest int64
	for _, rs := range sets {
		if rs == nil {
			continue
		}
		if v, err := revision(rs); err == nil && v > highest {
			highest = v
		}
	}
	return highest
}

// setNewReplicaSetAnnotations brings the annotations of the Deployment's new ReplicaSet up to date: it
// copies d's own annotations, raises the revision to newRevision (keeping the revisions it had in the
// revision history, which a rollback to this ReplicaSet makes), and, for a ReplicaSet about to be
// created, sets the replica annotations. It tells whether anything changed.
func setNewReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision string, exists bool) bool {
	changed := copyDeploymentAnnotations(d, rs)
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	oldRevision, had := rs.Annotations[RevisionAnnotation]
	oldValue, err := strconv.ParseInt(oldRevision, 10, 64)
	if err != nil {
		if oldRevision != "" {
			return false
		}
		oldValue = 0
	}
	newValue, err := strconv.ParseInt(newRevision, 10, 64)
	if err != nil {
		return false
	}
	if oldValue < newValue {
		rs.Annotations[RevisionAnnotation] = newRevision
		changed = true
		if had {
			rs.Annotations[RevisionHistoryAnnotation] = appendRevisionHistory(rs.Annotations[RevisionHistoryAnnotation], oldRevision)
		}
	}
	if !exists && setReplicasAnnotations(rs, replicas(d), replicas(d)+maxSurge(d)) {
		changed = true
	}
	return changed
}

// appendRevisionHistory adds revision to a comma-separated history, dropping the oldest entries to stay
// within maxRevisionHistoryLength characters.
func appendRevisionHistory(history, revision string) string {
	if history == "" {
		return revision
	}
	entries := strings.Split(history, ",")
	total := len(history) + len(revision) + 1
	start := 0
	for total > maxRevisionHistoryLength && start < len(entries) {
		total -= len(entries[start]) + 1
		start++
	}
	if total > maxRevisionHistoryLength {
		return history
	}
	return strings.Join(append(entries[start:], revision), ",")
}

// copyDeploymentAnnotations copies d's annotations (but the controller's own and kubectl's
// last-applied configuration) to rs, telling whether any changed.
func copyDeploymentAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if cur, ok := rs.Annotations[k]; annotationsNotCopied[k] || (ok && cur == v) {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	return changed
}

// setReplicasAnnotations records d's desired and maximum replicas on rs, telling whether they changed.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if !replicasAnnotationsNeedUpdate(rs, desired, maxReplicas) {
		return false
	}
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	rs.Annotations[DesiredReplicasAnnotation] = strconv.Itoa(int(desired))
	rs.Annotations[MaxReplicasAnnotation] = strconv.Itoa(int(maxReplicas))
	return true
}

func replicasAnnotationsNeedUpdate(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	return rs.Annotations[DesiredReplicasAnnotation] != strconv.Itoa(int(desired)) ||
		rs.Annotations[MaxReplicasAnnotation] != strconv.Itoa(int(maxReplicas))
}

// intAnnotation is a non-negative int32 annotation of rs; ok is false when it is missing or invalid.
func intAnnotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return 0, false
	}
	return int32(n), true
}

// setDeploymentRevision records revision on d, telling whether it changed.
func setDeploymentRevision(d *appsv1.Deployment, revision string) bool {
	if d.Annotations[RevisionAnnotation] == revision {
		return false
	}
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[RevisionAnnotation] = revision
	return true
}

// replicas is the desired number of pods of d (1 when unset, as the API server defaults it).
func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// rsReplicas is the desired number of pods of rs; a missing ReplicaSet has none.
func rsReplicas(rs *appsv1.ReplicaSet) int32 {
	switch {
	case rs == nil:
		return 0
	case rs.Spec.Replicas == nil:
		return 1
	default:
		return *rs.Spec.Replicas
	}
}

// activeReplicaSets are the ReplicaSets of sets that want pods.
func activeReplicaSets(sets []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var active []*appsv1.ReplicaSet
	for _, rs := range sets {
		if rs != nil && rsReplicas(rs) > 0 {
			active = append(active, rs)
		}
	}
	return active
}

// olderFirst orders ReplicaSets by creation, then name.
func olderFirst(a, b *appsv1.ReplicaSet) bool {
	if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.Name < b.Name
	}
	return a.CreationTimestamp.Before(&b.CreationTimestamp)
}

func sortedByCreation(sets []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	sorted := append([]*appsv1.ReplicaSet(nil), sets...)
	sort.SliceStable(sorted, func(i, j int) bool { return olderFirst(sorted[i], sorted[j]) })
	return sorted
}

// sortByRevision orders ReplicaSets by revision, then creation.
func sortByRevision(sets []*appsv1.ReplicaSet) {
	sort.SliceStable(sets, func(i, j int) bool {
		ri, err1 := revision(sets[i])
		rj, err2 := revision(sets[j])
		if err1 != nil || err2 != nil || ri == rj {
			return olderFirst(sets[i], sets[j])
		}
		return ri < rj
	})
}

// sortBySize orders ReplicaSets larger first; among equals the newer first when newerFirst, else the
// older first.
func sortBySize(sets []*appsv1.ReplicaSet, newerFirst bool) {
	sort.SliceStable(sets, func(i, j int) bool {
		if ri, rj := rsReplicas(sets[i]), rsReplicas(sets[j]); ri != rj {
			return ri > rj
		}
		if newerFirst {
			return olderFirst(sets[j], sets[i])
		}
		return olderFirst(sets[i], sets[j])
	})
}
