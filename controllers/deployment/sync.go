package deployment

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// deploymentSync is one sync of one Deployment. It holds the Deployment and its ReplicaSets as read at
// the start (copies of the cache's), and updates them in place as it writes them, so that every step
// decides on what the earlier steps did.
type deploymentSync struct {
	r      *Reconciler
	d      *appsv1.Deployment
	rsList []*appsv1.ReplicaSet
	now    time.Time
}

// run is upstream's syncDeployment.
func (s *deploymentSync) run(ctx context.Context) error {
	d := s.d
	if isSelectingAll(d.Spec.Selector) {
		s.r.Recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll",
			"This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return s.updateStatus(ctx)
		}
		return nil
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		// The API server refuses such selectors; retrying would not make one valid.
		log.FromContext(ctx).Info("Not syncing: invalid selector", "error", err.Error())
		return nil
	}
	if s.rsList, err = s.r.claimReplicaSets(ctx, d, selector); err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return s.syncStatusOnly(ctx)
	}
	// Mark pausing and resuming, so that a resumed rollout is not timed out for the time it was paused.
	if setPausedCondition(d, s.now) {
		if err := s.updateStatus(ctx); err != nil {
			return err
		}
	}
	if d.Spec.Paused {
		return s.scaleOnly(ctx)
	}
	newRS, oldRSs, err := s.replicaSetsAndSyncRevision(ctx, false)
	if err != nil {
		return err
	}
	if isScalingEvent(d, append(oldRSs, newRS)) {
		return s.scaleOnly(ctx)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		pods, err := s.r.podsByReplicaSet(ctx, d, selector, s.rsList)
		if err != nil {
			return err
		}
		return s.rolloutRecreate(ctx, pods)
	case appsv1.RollingUpdateDeploymentStrategyType:
		return s.rolloutRolling(ctx)
	}
	return fmt.Errorf("unexpected deployment strategy type: %s", d.Spec.Strategy.Type)
}

// updateStatus writes the Deployment's status, and its annotations with it (as the status endpoint of
// Deployments takes them, upstream too).
func (s *deploymentSync) updateStatus(ctx context.Context) error {
	if err := s.r.Client.Status().Update(ctx, s.d); err != nil {
		return fmt.Errorf("update deployment status: %w", err)
	}
	return nil
}

// syncStatusOnly reports the status of a Deployment being deleted, changing nothing else.
func (s *deploymentSync) syncStatusOnly(ctx context.Context) error {
	newRS, oldRSs, err := s.replicaSetsAndSyncRevision(ctx, false)
	if err != nil {
		return err
	}
	return s.syncStatus(ctx, append(oldRSs, newRS), newRS)
}

// scaleOnly handles a scaling of the Deployment, or a paused one: the ReplicaSets are resized, nothing
// rolls.
func (s *deploymentSync) scaleOnly(ctx context.Context) error {
	newRS, oldRSs, err := s.replicaSetsAndSyncRevision(ctx, false)
	if err != nil {
		return err
	}
	if err := s.scale(ctx, newRS, oldRSs); err != nil {
		return err
	}
	if s.d.Spec.Paused {
		if err := s.cleanup(ctx, oldRSs); err != nil {
			return err
		}
	}
	return s.syncStatus(ctx, append(oldRSs, newRS), newRS)
}

// syncStatus writes the status the ReplicaSets give, when it changed.
func (s *deploymentSync) syncStatus(ctx context.Context, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	status := calculateStatus(allRSs, newRS, s.d, s.now)
	if equality.Semantic.DeepEqual(s.d.Status, status) {
		return nil
	}
	s.d.Status = status
	return s.updateStatus(ctx)
}

// syncRolloutStatus writes the status of a rollout, progress included, when it changed.
func (s *deploymentSync) syncRolloutStatus(ctx context.Context, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	status := rolloutStatus(s.d, allRSs, newRS, s.now)
	if equality.Semantic.DeepEqual(s.d.Status, status) {
		return nil
	}
	s.d.Status = status
	return s.updateStatus(ctx)
}

// replicaSetsAndSyncRevision returns the new ReplicaSet (nil when there is none and create is false) and
// the old ones, and brings the revisions up to date: the new ReplicaSet's becomes one more than the
// highest old one, and the Deployment's becomes the new ReplicaSet's.
func (s *deploymentSync) replicaSetsAndSyncRevision(ctx context.Context, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	oldRSs := oldReplicaSets(s.rsList, findNewReplicaSet(s.d, s.rsList))
	newRS, err := s.newReplicaSet(ctx, oldRSs, create)
	if err != nil {
		return nil, nil, err
	}
	return newRS, oldRSs, nil
}

// newReplicaSet finds the Deployment's new ReplicaSet and syncs its annotations and minReadySeconds,
// or, when there is none and create is true, creates it, as upstream's getNewReplicaSet.
func (s *deploymentSync) newReplicaSet(ctx context.Context, oldRSs []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	d := s.d
	newRevision := strconv.FormatInt(maxRevision(oldRSs)+1, 10)
	if existing := findNewReplicaSet(d, s.rsList); existing != nil {
		rs := existing.DeepCopy()
		if setNewReplicaSetAnnotations(d, rs, newRevision, true) || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			if err := s.r.Client.Update(ctx, rs); err != nil {
				return nil, fmt.Errorf("update replica set %s: %w", rs.Name, err)
			}
			*existing = *rs
			// The Deployment's revision follows on the next sync, as upstream.
			return existing, nil
		}
		changed := setDeploymentRevision(d, newRevision)
		if hasProgressDeadline(d) && getCondition(d.Status, appsv1.DeploymentProgressing) == nil {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonFoundNewRS,
				fmt.Sprintf("Found new replica set %q", rs.Name), s.now))
			changed = true
		}
		if changed {
			if err := s.updateStatus(ctx); err != nil {
				return nil, err
			}
		}
		return existing, nil
	}
	if !create {
		return nil, nil
	}

	rs := newReplicaSet(d, templateHash(&d.Spec.Template, d.Status.CollisionCount))
	size, err := newRSNewReplicas(d, append(append([]*appsv1.ReplicaSet(nil), oldRSs...), rs), rs)
	if err != nil {
		return nil, err
	}
	*rs.Spec.Replicas = size
	setNewReplicaSetAnnotations(d, rs, newRevision, false)
	alreadyExists := false
	err = s.r.Client.Create(ctx, rs)
	switch {
	case kerrors.IsAlreadyExists(err):
		// A slow cache, or a hash collision: the ReplicaSet of that name is ours for this template, or it
		// is another and the next try must hash differently.
		existing := &appsv1.ReplicaSet{}
		if err := s.r.APIReader.Get(ctx, client.ObjectKeyFromObject(rs), existing); err != nil {
			return nil, fmt.Errorf("get replica set %s: %w", rs.Name, err)
		}
		if ref := metav1.GetControllerOfNoCopy(existing); ref != nil && ref.UID == d.UID &&
			equalIgnoreHash(&d.Spec.Template, &existing.Spec.Template) {
			rs, alreadyExists = existing, true
			break
		}
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		if uerr := s.updateStatus(ctx); uerr != nil {
			return nil, errors.Join(err, uerr)
		}
		log.FromContext(ctx).V(1).Info("Hash collision: bumped collisionCount", "collisionCount", *d.Status.CollisionCount)
		return nil, fmt.Errorf("replica set %s exists for another template: %w", rs.Name, err)
	case kerrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, err
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if hasProgressDeadline(d) {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonFailedRSCreate, msg, s.now))
			// The creation error is the one to report; a failed status update is retried with it.
			_ = s.updateStatus(ctx)
		}
		s.r.Recorder.Event(d, corev1.EventTypeWarning, reasonFailedRSCreate, msg)
		return nil, fmt.Errorf("create replica set %s: %w", rs.Name, err)
	}
	s.rsList = append(s.rsList, rs)
	if !alreadyExists && size > 0 {
		s.r.Recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", rs.Name, size)
	}
	changed := setDeploymentRevision(d, newRevision)
	if !alreadyExists && hasProgressDeadline(d) {
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewReplicaSet,
			fmt.Sprintf("Created new replica set %q", rs.Name), s.now))
		changed = true
	}
	if changed {
		if err := s.updateStatus(ctx); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// scaleReplicaSet sets rs's replicas and its replica annotations, recording a ScalingReplicaSet event
// when the size changed; it tells whether it did.
func (s *deploymentSync) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, size int32) (bool, error) {
	desired, maxReplicas := replicas(s.d), replicas(s.d)+maxSurge(s.d)
	from := rsReplicas(rs)
	resize := from != size
	if !resize && !replicasAnnotationsNeedUpdate(rs, desired, maxReplicas) {
		return false, nil
	}
	updated := rs.DeepCopy()
	updated.Spec.Replicas = &size
	setReplicasAnnotations(updated, desired, maxReplicas)
	if err := s.r.Client.Update(ctx, updated); err != nil {
		return false, fmt.Errorf("scale replica set %s to %d: %w", rs.Name, size, err)
	}
	*rs = *updated
	if !resize {
		return false, nil
	}
	direction := "up"
	if size < from {
		direction = "down"
	}
	s.r.Recorder.Eventf(s.d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d",
		direction, rs.Name, from, size)
	return true, nil
}

// resize scales rs to size when it is not that size already.
func (s *deploymentSync) resize(ctx context.Context, rs *appsv1.ReplicaSet, size int32) (bool, error) {
	if rsReplicas(rs) == size {
		return false, nil
	}
	return s.scaleReplicaSet(ctx, rs, size)
}

// scale resizes the ReplicaSets for the Deployment's replicas (see scaleSteps).
func (s *deploymentSync) scale(ctx context.Context, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) error {
	for _, step := range scaleSteps(s.d, newRS, oldRSs) {
		if _, err := s.scaleReplicaSet(ctx, step.rs, step.replicas); err != nil {
			return err
		}
	}
	return nil
}

// rolloutRolling is one step of a rolling update: scale the new ReplicaSet up if the surge allows,
// else the old ones down if availability allows, and clean up when the rollout is complete.
func (s *deploymentSync) rolloutRolling(ctx context.Context) error {
	newRS, oldRSs, err := s.replicaSetsAndSyncRevision(ctx, true)
	if err != nil {
		return err
	}
	allRSs := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)

	target, err := newReplicaSetTarget(s.d, allRSs, newRS)
	if err != nil {
		return err
	}
	scaled, err := s.resize(ctx, newRS, target)
	if err != nil {
		return err
	}
	if !scaled {
		if scaled, err = s.scaleDownOld(ctx, allRSs, activeReplicaSets(oldRSs), newRS); err != nil {
			return err
		}
	}
	if !scaled && deploymentComplete(s.d, &s.d.Status) {
		if err := s.cleanup(ctx, oldRSs); err != nil {
			return err
		}
	}
	return s.syncRolloutStatus(ctx, allRSs, newRS)
}

// scaleDownOld takes old pods away as far as availability allows: unavailable ones first, then the
// oldest ReplicaSets'. It tells whether it scaled anything.
func (s *deploymentSync) scaleDownOld(ctx context.Context, allRSs, oldRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	var oldPods int32
	for _, rs := range oldRSs {
		oldPods += rsReplicas(rs)
	}
	if oldPods == 0 {
		return false, nil
	}
	budget := maxScaledDown(s.d, allRSs, newRS)
	if budget <= 0 {
		return false, nil
	}
	oldRSs = sortedByCreation(oldRSs)
	cleanup, cleaned := cleanupUnhealthySteps(oldRSs, budget)
	for _, step := range cleanup {
		if _, err := s.scaleReplicaSet(ctx, step.rs, step.replicas); err != nil {
			return false, err
		}
	}
	scaleDown, scaledDown := scaleDownOldSteps(s.d, allRSs, oldRSs, maxUnavailable(s.d))
	for _, step := range scaleDown {
		if _, err := s.scaleReplicaSet(ctx, step.rs, step.replicas); err != nil {
			return false, err
		}
	}
	return cleaned+scaledDown > 0, nil
}

// rolloutRecreate is one step of a Recreate rollout: scale the old ReplicaSets to nothing, wait until
// their pods are gone, then create and scale up the new one.
func (s *deploymentSync) rolloutRecreate(ctx context.Context, pods map[types.UID][]*corev1.Pod) error {
	// The new ReplicaSet is not made before the old pods are gone: it would start scaled up.
	newRS, oldRSs, err := s.replicaSetsAndSyncRevision(ctx, false)
	if err != nil {
		return err
	}
	allRSs := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	scaledDown := false
	for _, rs := range activeReplicaSets(oldRSs) {
		scaled, err := s.resize(ctx, rs, 0)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown || oldPodsRunning(newRS, oldRSs, pods) {
		return s.syncRolloutStatus(ctx, allRSs, newRS)
	}
	if newRS == nil {
		if newRS, oldRSs, err = s.replicaSetsAndSyncRevision(ctx, true); err != nil {
			return err
		}
		allRSs = append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	}
	if _, err := s.resize(ctx, newRS, replicas(s.d)); err != nil {
		return err
	}
	if deploymentComplete(s.d, &s.d.Status) {
		if err := s.cleanup(ctx, oldRSs); err != nil {
			return err
		}
	}
	return s.syncRolloutStatus(ctx, allRSs, newRS)
}

// oldPodsRunning tells whether an old ReplicaSet still reports pods, or a pod of one has not finished.
func oldPodsRunning(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet, pods map[types.UID][]*corev1.Pod) bool {
	for _, rs := range oldRSs {
		if rs.Status.Replicas > 0 {
			return true
		}
	}
	for uid, list := range pods {
		if newRS != nil && uid == newRS.UID {
			continue
		}
		for _, pod := range list {
			if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
				return true
			}
		}
	}
	return false
}

// cleanup deletes the old ReplicaSets beyond the revision history limit.
func (s *deploymentSync) cleanup(ctx context.Context, oldRSs []*appsv1.ReplicaSet) error {
	for _, rs := range revisionsToClean(s.d, oldRSs) {
		log.FromContext(ctx).V(1).Info("Deleting old replica set beyond the revision history limit", "replicaSet", rs.Name)
		// The preconditions spare a ReplicaSet changed (scaled up again) since it was read.
		err := s.r.Client.Delete(ctx, rs, client.Preconditions{UID: &rs.UID, ResourceVersion: &rs.ResourceVersion})
		if err != nil && !kerrors.IsNotFound(err) {
			return fmt.Errorf("delete old replica set %s: %w", rs.Name, err)
		}
	}
	return nil
}
