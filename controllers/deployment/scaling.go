package deployment

import (
	"fmt"
	"math"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// scaleStep is one ReplicaSet to be scaled to replicas.
type scaleStep struct {
	rs       *appsv1.ReplicaSet
	replicas int32
}

// resolveFenceposts resolves maxSurge (a percentage rounds up) and maxUnavailable (rounds down) against
// desired replicas, as upstream. When both come to 0, maxUnavailable is 1: the pods are then replaced one
// at a time rather than not at all.
func resolveFenceposts(surge, unavailable *intstr.IntOrString, desired int32) (int32, int32, error) {
	zero := intstr.FromInt32(0)
	s, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(surge, zero), int(desired), true)
	if err != nil {
		return 0, 0, fmt.Errorf("maxSurge: %w", err)
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(unavailable, zero), int(desired), false)
	if err != nil {
		return 0, 0, fmt.Errorf("maxUnavailable: %w", err)
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u), nil
}

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType
}

// rollingParams are d's maxSurge and maxUnavailable; invalid values (which validation refuses) count as
// 0.
func rollingParams(d *appsv1.Deployment) (surge, unavailable int32) {
	var s, u *intstr.IntOrString
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		s, u = ru.MaxSurge, ru.MaxUnavailable
	}
	surge, unavailable, _ = resolveFenceposts(s, u, replicas(d))
	return surge, unavailable
}

// maxSurge is how many pods d may run above its replicas: 0 unless it rolls.
func maxSurge(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) {
		return 0
	}
	surge, _ := rollingParams(d)
	return surge
}

// maxUnavailable is how many of d's replicas may be unavailable: 0 unless it rolls, at most its replicas.
func maxUnavailable(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || replicas(d) == 0 {
		return 0
	}
	_, unavailable := rollingParams(d)
	return min(unavailable, replicas(d))
}

// podsCounted are the pods a ReplicaSet counts for the surge bound: what it wants, or what it still has
// while a scale-down has not yet been carried out. Upstream counts only what it wants, which lets a
// rollout surge past maxSurge for the moment the old pods take to go; counting both keeps the bound on
// the pods that really exist.
func podsCounted(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return max(rsReplicas(rs), rs.Status.Replicas)
}

// newRSNewReplicas is how many replicas d's new ReplicaSet may have now, as upstream's
// NewRSNewReplicas: for a rolling update, up to d's replicas without the total passing replicas plus
// maxSurge; for Recreate, d's replicas.
func newRSNewReplicas(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (int32, error) {
	switch d.Spec.Strategy.Type {
	case appsv1.RollingUpdateDeploymentStrategyType:
		var current int32
		for _, rs := range allRSs {
			current += podsCounted(rs)
		}
		maxTotal := replicas(d) + maxSurge(d)
		if current >= maxTotal {
			return rsReplicas(newRS), nil
		}
		return rsReplicas(newRS) + min(maxTotal-current, replicas(d)-rsReplicas(newRS)), nil
	case appsv1.RecreateDeploymentStrategyType:
		return replicas(d), nil
	default:
		return 0, fmt.Errorf("deployment strategy %q is not supported", d.Spec.Strategy.Type)
	}
}

// newReplicaSetTarget is the size d's new ReplicaSet should have now in a rolling update: scaled down
// at once when above d's replicas, scaled up within the surge.
func newReplicaSetTarget(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (int32, error) {
	if rsReplicas(newRS) >= replicas(d) {
		return replicas(d), nil
	}
	return newRSNewReplicas(d, allRSs, newRS)
}

// maxScaledDown is how many old pods a rolling update may take away now, as upstream: all pods, less
// the minimum available, less the new ReplicaSet's unavailable pods (which may never become available).
func maxScaledDown(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	var all int32
	for _, rs := range allRSs {
		all += rsReplicas(rs)
	}
	minAvailable := replicas(d) - maxUnavailable(d)
	newUnavailable := rsReplicas(newRS) - newRS.Status.AvailableReplicas
	return all - minAvailable - newUnavailable
}

// cleanupUnhealthySteps scales the old ReplicaSets down by their unavailable pods, oldest first, at
// most maxCleanup pods in all: removing pods that are not available costs no availability. oldRSs must
// be sorted oldest first.
func cleanupUnhealthySteps(oldRSs []*appsv1.ReplicaSet, maxCleanup int32) ([]scaleStep, int32) {
	var steps []scaleStep
	var total int32
	for _, rs := range oldRSs {
		if total >= maxCleanup {
			break
		}
		want := rsReplicas(rs)
		if want == 0 || want <= rs.Status.AvailableReplicas {
			continue
		}
		n := min(maxCleanup-total, want-rs.Status.AvailableReplicas)
		steps = append(steps, scaleStep{rs: rs, replicas: want - n})
		total += n
	}
	return steps, total
}

// scaleDownOldSteps scales the old ReplicaSets down, oldest first, by as many pods as are available
// beyond the minimum d must keep. A ReplicaSet's available pods count only up to what it wants: after a
// scale-down the status may still count pods that are going.
func scaleDownOldSteps(d *appsv1.Deployment, allRSs, oldRSs []*appsv1.ReplicaSet, maxUnavailable int32) ([]scaleStep, int32) {
	minAvailable := replicas(d) - maxUnavailable
	var available int32
	for _, rs := range allRSs {
		if rs != nil {
			available += min(rs.Status.AvailableReplicas, rsReplicas(rs))
		}
	}
	if available <= minAvailable {
		return nil, 0
	}
	budget := available - minAvailable
	var steps []scaleStep
	var total int32
	for _, rs := range sortedByCreation(oldRSs) {
		if total >= budget {
			break
		}
		want := rsReplicas(rs)
		if want == 0 {
			continue
		}
		n := min(want, budget-total)
		steps = append(steps, scaleStep{rs: rs, replicas: want - n})
		total += n
	}
	return steps, total
}

// findActiveOrLatest is the one ReplicaSet that wants pods, or when none does the newest (newRS first),
// or nil when several do.
func findActiveOrLatest(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	all := oldRSs
	if newRS != nil {
		all = append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	}
	active := activeReplicaSets(all)
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		sorted := sortedByCreation(oldRSs)
		return sorted[len(sorted)-1]
	case 1:
		return active[0]
	default:
		return nil
	}
}

// isSaturated tells whether rs runs all of d's replicas, available, for d's current size.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, DesiredReplicasAnnotation)
	return ok && rsReplicas(rs) == replicas(d) && desired == replicas(d) && rs.Status.AvailableReplicas == replicas(d)
}

// isScalingEvent tells whether d's replicas changed since its active ReplicaSets were last scaled for it.
func isScalingEvent(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet) bool {
	for _, rs := range activeReplicaSets(allRSs) {
		if desired, ok := intAnnotation(rs, DesiredReplicasAnnotation); ok && desired != replicas(d) {
			return true
		}
	}
	return false
}

// scaleSteps resizes a Deployment's ReplicaSets for its replicas, as upstream's scale: the one active
// ReplicaSet (or, when none is, the newest) takes them all; a saturated new ReplicaSet leaves the old
// ones nothing; otherwise a rolling Deployment's active ReplicaSets share the change in proportion.
func scaleSteps(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) []scaleStep {
	if rs := findActiveOrLatest(newRS, oldRSs); rs != nil {
		if rsReplicas(rs) == replicas(d) {
			return nil
		}
		return []scaleStep{{rs: rs, replicas: replicas(d)}}
	}
	if isSaturated(d, newRS) {
		var steps []scaleStep
		for _, rs := range activeReplicaSets(oldRSs) {
			steps = append(steps, scaleStep{rs: rs, replicas: 0})
		}
		return steps
	}
	if !isRollingUpdate(d) {
		return nil
	}
	return proportionalSteps(d, newRS, oldRSs)
}

// proportionalSteps spreads a change of d's size over its active ReplicaSets in proportion to their
// sizes, as upstream's scale: the total becomes replicas plus maxSurge; larger ReplicaSets take their
// share first (on a tie the newer when growing, the older when shrinking) and the largest takes what
// rounding leaves over.
func proportionalSteps(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) []scaleStep {
	all := activeReplicaSets(append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS))
	var current int32
	for _, rs := range all {
		current += rsReplicas(rs)
	}
	var allowed int32
	if replicas(d) > 0 {
		allowed = replicas(d) + maxSurge(d)
	}
	toAdd := allowed - current
	switch {
	case toAdd > 0:
		sortBySize(all, true)
	case toAdd < 0:
		sortBySize(all, false)
	}
	sizes := make([]int32, len(all))
	var added int32
	for i, rs := range all {
		sizes[i] = rsReplicas(rs)
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	if len(all) > 0 && toAdd != 0 {
		sizes[0] = max(sizes[0]+toAdd-added, 0)
	}
	steps := make([]scaleStep, len(all))
	for i, rs := range all {
		steps[i] = scaleStep{rs: rs, replicas: sizes[i]}
	}
	return steps
}

// proportion is the share of toAdd (negative: to remove) rs takes, never past what is left of it.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || rsReplicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := fraction(rs, d)
	left := toAdd - added
	if toAdd > 0 {
		return min(fraction, left)
	}
	return max(fraction, left)
}

// fraction is how many replicas rs should gain (or lose) for d's new size: its size scaled by d's new
// maximum over the maximum it was last scaled for.
func fraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	if replicas(d) == 0 {
		return -rsReplicas(rs)
	}
	newMax := replicas(d) + maxSurge(d)
	oldMax, ok := intAnnotation(rs, MaxReplicasAnnotation)
	if !ok || oldMax == 0 {
		// Someone removed the annotation: fall back on the Deployment's current size.
		oldMax = d.Status.Replicas
		if oldMax == 0 {
			return 0
		}
	}
	scaled := float64(rsReplicas(rs)) * float64(newMax) / float64(oldMax)
	return int32(math.Floor(scaled+0.5)) - rsReplicas(rs)
}

// revisionsToClean are the old ReplicaSets beyond d's revisionHistoryLimit, oldest revision first, that
// can go: scaled to nothing, with no pods left, their scale-down observed, not already being deleted.
func revisionsToClean(d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	limit := d.Spec.RevisionHistoryLimit
	if limit == nil || *limit == math.MaxInt32 {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range oldRSs {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*limit)
	if diff <= 0 {
		return nil
	}
	sortByRevision(alive)
	var clean []*appsv1.ReplicaSet
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || rsReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		clean = append(clean, rs)
	}
	return clean
}
