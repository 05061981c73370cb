package deployment

import (
	"fmt"
	"math"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Upstream's condition reasons.
const (
	reasonReplicaSetUpdated          = "ReplicaSetUpdated"
	reasonFailedRSCreate             = "ReplicaSetCreateError"
	reasonNewReplicaSet              = "NewReplicaSetCreated"
	reasonFoundNewRS                 = "FoundNewReplicaSet"
	reasonNewRSAvailable             = "NewReplicaSetAvailable"
	reasonTimedOut                   = "ProgressDeadlineExceeded"
	reasonPaused                     = "DeploymentPaused"
	reasonResumed                    = "DeploymentResumed"
	reasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	reasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
)

func newCondition(t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) appsv1.DeploymentCondition {
	return appsv1.DeploymentCondition{Type: t, Status: status, Reason: reason, Message: message,
		LastUpdateTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}
}

func getCondition(status appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}

// setCondition sets c, as upstream: a condition of the same status and reason stays as it is; one of the
// same status keeps its transition time.
func setCondition(status *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	cur := getCondition(*status, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(status, c.Type)
	status.Conditions = append(status.Conditions, c)
}

func removeCondition(status *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var kept []appsv1.DeploymentCondition
	for _, c := range status.Conditions {
		if c.Type != t {
			kept = append(kept, c)
		}
	}
	status.Conditions = kept
}

// hasProgressDeadline tells whether d's progress is watched.
func hasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

// calculateStatus is d's status from its ReplicaSets' (conditions but Available as they were).
func calculateStatus(allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment, now time.Time) appsv1.DeploymentStatus {
	var wanted, actual, ready, available int32
	for _, rs := range allRSs {
		if rs == nil {
			continue
		}
		wanted += rsReplicas(rs)
		actual += rs.Status.Replicas
		ready += rs.Status.ReadyReplicas
		available += rs.Status.AvailableReplicas
	}
	status := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            actual,
		ReadyReplicas:       ready,
		AvailableReplicas:   available,
		UnavailableReplicas: max(wanted-available, 0),
		TerminatingReplicas: terminatingReplicas(allRSs),
		CollisionCount:      d.Status.CollisionCount,
		Conditions:          append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...),
	}
	if newRS != nil {
		status.UpdatedReplicas = newRS.Status.Replicas
	}
	if available >= replicas(d)-maxUnavailable(d) {
		setCondition(&status, newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue,
			reasonMinimumReplicasAvailable, "Deployment has minimum availability.", now))
	} else {
		setCondition(&status, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse,
			reasonMinimumReplicasUnavailable, "Deployment does not have minimum availability.", now))
	}
	return status
}

// terminatingReplicas is the sum of the ReplicaSets' terminating pods, or nil when one has not counted
// them (ReplicaSets never synced yet are left out).
func terminatingReplicas(sets []*appsv1.ReplicaSet) *int32 {
	var total int32
	for _, rs := range sets {
		if rs == nil {
			continue
		}
		if rs.Status.TerminatingReplicas == nil {
			if rs.Status.ObservedGeneration == 0 {
				continue
			}
			return nil
		}
		total += *rs.Status.TerminatingReplicas
	}
	return ptr.To(total)
}

// deploymentComplete tells whether status shows d's rollout done: all replicas updated and available,
// no old ones left, d's latest generation seen.
func deploymentComplete(d *appsv1.Deployment, status *appsv1.DeploymentStatus) bool {
	return status.UpdatedReplicas == replicas(d) && status.Replicas == replicas(d) &&
		status.AvailableReplicas == replicas(d) && status.ObservedGeneration >= d.Generation
}

// deploymentProgressing tells whether status shows progress over d's recorded status: more updated,
// ready or available replicas, or fewer old ones.
func deploymentProgressing(d *appsv1.Deployment, status *appsv1.DeploymentStatus) bool {
	old := d.Status
	return status.UpdatedReplicas > old.UpdatedReplicas ||
		status.Replicas-status.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		status.ReadyReplicas > old.ReadyReplicas ||
		status.AvailableReplicas > old.AvailableReplicas
}

// deploymentTimedOut tells whether d has made no progress for progressDeadlineSeconds since its
// Progressing condition last changed.
func deploymentTimedOut(d *appsv1.Deployment, status *appsv1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := getCondition(*status, appsv1.DeploymentProgressing)
	switch {
	case c == nil || c.Reason == reasonNewRSAvailable:
		// No rollout to time out: none estimated yet, or the last one finished.
		return false
	case c.Reason == reasonTimedOut:
		return true
	}
	deadline := time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
	return c.LastUpdateTime.Add(deadline).Before(now)
}

// rolloutStatus is d's status during a rollout, as upstream's syncRolloutStatus computes it: the counts,
// Available, Progressing (complete, progressing, or timed out against the progress deadline), and the
// ReplicaSets' replica failures.
func rolloutStatus(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) appsv1.DeploymentStatus {
	status := calculateStatus(allRSs, newRS, d, now)
	if !hasProgressDeadline(d) {
		removeCondition(&status, appsv1.DeploymentProgressing)
	}
	current := getCondition(d.Status, appsv1.DeploymentProgressing)
	complete := status.Replicas == status.UpdatedReplicas && current != nil && current.Reason == reasonNewRSAvailable
	if hasProgressDeadline(d) && !complete {
		name := fmt.Sprintf("Deployment %q", d.Name)
		if newRS != nil {
			name = fmt.Sprintf("ReplicaSet %q", newRS.Name)
		}
		switch {
		case deploymentComplete(d, &status):
			setCondition(&status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
				reasonNewRSAvailable, name+" has successfully progressed.", now))
		case deploymentProgressing(d, &status):
			// Progress renews the condition's update time even when its reason stays the same.
			c := newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonReplicaSetUpdated,
				name+" is progressing.", now)
			if current != nil {
				if current.Status == corev1.ConditionTrue {
					c.LastTransitionTime = current.LastTransitionTime
				}
				removeCondition(&status, appsv1.DeploymentProgressing)
			}
			setCondition(&status, c)
		case deploymentTimedOut(d, &status, now):
			setCondition(&status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse,
				reasonTimedOut, name+" has timed out progressing.", now))
		}
	}
	if failure := replicaFailure(allRSs, newRS); failure != nil {
		setCondition(&status, *failure)
	} else {
		removeCondition(&status, appsv1.DeploymentReplicaFailure)
	}
	return status
}

// replicaFailure is the ReplicaFailure condition of the new ReplicaSet, else of an old one, as a
// Deployment condition.
func replicaFailure(allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) *appsv1.DeploymentCondition {
	for _, rs := range append([]*appsv1.ReplicaSet{newRS}, allRSs...) {
		if rs == nil {
			continue
		}
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure {
				return &appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: c.Status,
					Reason: c.Reason, Message: c.Message, LastUpdateTime: c.LastTransitionTime,
					LastTransitionTime: c.LastTransitionTime}
			}
		}
	}
	return nil
}

// setPausedCondition marks d's Progressing condition when d is paused or resumed, so that the time spent
// paused never counts against the progress deadline. A timed out rollout keeps saying so. It tells
// whether the status changed.
func setPausedCondition(d *appsv1.Deployment, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := getCondition(d.Status, appsv1.DeploymentProgressing)
	if c != nil && c.Reason == reasonTimedOut {
		return false
	}
	paused := c != nil && c.Reason == reasonPaused
	switch {
	case d.Spec.Paused && !paused:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonPaused,
			"Deployment is paused", now))
		return true
	case !d.Spec.Paused && paused:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonResumed,
			"Deployment is resumed", now))
		return true
	}
	return false
}

// progressCheckAfter is when d must be synced again to tell whether its rollout timed out; ok is false
// when no such check is due (no deadline, paused, complete or already timed out).
func progressCheckAfter(d *appsv1.Deployment, now time.Time) (time.Duration, bool) {
	c := getCondition(d.Status, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || d.Spec.Paused || c == nil || c.Reason == reasonTimedOut ||
		deploymentComplete(d, &d.Status) {
		return 0, false
	}
	after := c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(now)
	// A second more makes the deadline surely past when the sync comes.
	return max(after, 0) + time.Second, true
}
