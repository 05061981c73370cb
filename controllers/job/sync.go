package job

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
)

// syncState is what one sync of a Job reads and decides.
type syncState struct {
	key types.NamespacedName
	now time.Time
	// job is the controller's copy of the Job, whose status the sync builds.
	job  *batchv1.Job
	pods []*corev1.Pod
	// active are the pods neither finished nor being deleted.
	active []*corev1.Pod
	// ready counts the ready active pods, terminating the pods being deleted that have not finished.
	ready, terminating int32
	// uncountedSucceeded and uncountedFailed are the pod UIDs in status.uncountedTerminatedPods as read.
	uncountedSucceeded, uncountedFailed sets.Set[string]
	// expectedRmFinalizers are pods whose finalizer this controller removed, though the cache may not
	// show it yet: they are counted already.
	expectedRmFinalizers sets.Set[string]
	// succeeded and failed are the counters including pods not yet moved into them.
	succeeded, failed int32
	// prevSucceededIndexes are the completed indexes as read; succeededIndexes include new ones.
	prevSucceededIndexes, succeededIndexes intervals
	// failedIndexes are the failed indexes, for Jobs with a per-index backoff limit.
	failedIndexes *intervals
	// finished is the condition the Job has reached, if any: an interim one (FailureTarget,
	// SuccessCriteriaMet) or the terminal one it leads to.
	finished *batchv1.JobCondition
	// delayedDeletion holds, per index, the failed pod whose finalizer waits for its replacement.
	delayedDeletion map[int]*corev1.Pod
	// requeueAfter is when time alone will change the Job (deadline, backoff); 0 for never.
	requeueAfter time.Duration
}

func (s *syncState) requeue(d time.Duration) {
	s.requeueAfter = minPositive(s.requeueAfter, d)
}

// sync runs one pass of the Job's control loop over its pods and returns when it should run again.
func (r *Reconciler) sync(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod, satisfied bool) (time.Duration, error) {
	st := &job.Status
	if st.UncountedTerminatedPods == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	s := &syncState{
		key:                  types.NamespacedName{Namespace: job.Namespace, Name: job.Name},
		now:                  r.Now(),
		job:                  job,
		pods:                 pods,
		uncountedSucceeded:   uidSet(st.UncountedTerminatedPods.Succeeded),
		uncountedFailed:      uidSet(st.UncountedTerminatedPods.Failed),
		expectedRmFinalizers: r.expectations.expectedFinalizerRemovals(types.NamespacedName{Namespace: job.Namespace, Name: job.Name}, job.UID),
	}
	for _, p := range pods {
		switch {
		case isActive(p):
			s.active = append(s.active, p)
			if isReady(p) {
				s.ready++
			}
		case isTerminating(p):
			s.terminating++
		}
	}
	active := int32(len(s.active))
	newSucceeded, newFailed := s.newlyFinishedPods()
	s.succeeded = st.Succeeded + int32(len(newSucceeded)) + int32(s.uncountedSucceeded.Len())
	s.failed = st.Failed + int32(countedFailures(job, newFailed)) + int32(s.uncountedFailed.Len())

	startTimeChanged := false
	if st.StartTime == nil && !isSuspended(job) {
		st.StartTime = ptr.To(metav1.NewTime(s.now))
		startTimeChanged = true
	}

	decideOutcome(s)

	var manageErr error
	conditionsChanged := false
	if s.finished != nil {
		deletedReady, deleted, err := r.deleteActivePods(ctx, job, s.active)
		if deleted != active || !satisfied {
			// Pods may be left that the cache does not show yet: the Job is not finished before they are gone.
			s.finished = nil
		}
		active -= deleted
		s.terminating += deleted
		s.ready -= deletedReady
		manageErr = err
	} else {
		managed := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = r.manageJob(ctx, s)
			managed = true
		}
		switch {
		case isComplete(job, s.succeeded, active):
			s.finished = newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, msgCompletionsReached, s.now)
		case managed:
			// The suspension state is reported only by a sync that acted on it.
			conditionsChanged = r.updateSuspension(s)
		}
	}

	needsFlush := conditionsChanged || startTimeChanged || active != st.Active ||
		!ptr.Equal(&s.ready, st.Ready) || !ptr.Equal(&s.terminating, st.Terminating)
	st.Active = active
	st.Ready = ptr.To(s.ready)
	st.Terminating = ptr.To(s.terminating)
	if err := r.trackStatus(ctx, s, needsFlush); err != nil {
		return 0, fmt.Errorf("track status of job %s: %w", s.key, err)
	}
	return s.requeueAfter, manageErr
}

// newlyFinishedPods returns the finished pods not yet counted in any way: they carry the tracking
// finalizer and are not in status.uncountedTerminatedPods. Pods of an Indexed Job need a valid index.
func (s *syncState) newlyFinishedPods() (succeeded, failed []*corev1.Pod) {
	for _, p := range s.pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || s.expectedRmFinalizers.Has(uid) {
			continue
		}
		if isIndexed(s.job) && validIndex(s.job, p) == noIndex {
			continue
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !s.uncountedSucceeded.Has(uid):
			succeeded = append(succeeded, p)
		case isPodFailed(p, s.job) && !s.uncountedFailed.Has(uid):
			failed = append(failed, p)
		}
	}
	return succeeded, failed
}

// decideOutcome sets s.finished when the Job has reached its outcome: failure through a pod failure
// policy, the backoff limit, the active deadline or failed indexes, or success through a success policy.
// Success by completions is decided after the pods are managed.
func decideOutcome(s *syncState) {
	job := s.job
	if c := trueCondition(job, batchv1.JobSuccessCriteriaMet); c != nil {
		// Decided in an earlier sync; the pod failure policy no longer matters.
		s.finished = c.DeepCopy()
	}
	if s.finished == nil {
		if ft := trueCondition(job, batchv1.JobFailureTarget); ft != nil {
			s.finished = newCondition(batchv1.JobFailed, corev1.ConditionTrue, ft.Reason, ft.Message, s.now)
		} else if msg := failJobMessage(job, s.pods); msg != nil {
			s.finished = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonPodFailurePolicy, *msg, s.now)
		}
	}
	if s.finished == nil {
		switch {
		case s.failed > ptr.Deref(job.Spec.BackoffLimit, 6) || pastBackoffLimitOnFailure(job, s.pods):
			s.finished = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimitExceeded, s.now)
		case pastActiveDeadline(job, s.now):
			s.finished = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonDeadlineExceeded, msgDeadlineExceeded, s.now)
		case job.Spec.ActiveDeadlineSeconds != nil && !isSuspended(job) && job.Status.StartTime != nil:
			s.requeue(job.Status.StartTime.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second).Sub(s.now))
		}
	}
	if !isIndexed(job) {
		return
	}
	s.prevSucceededIndexes, s.succeededIndexes = succeededIndexes(job, s.pods)
	s.succeeded = int32(s.succeededIndexes.total())
	if hasBackoffLimitPerIndex(job) {
		failed := failedIndexes(job, s.pods)
		s.failedIndexes = &failed
		if s.finished == nil {
			switch {
			case job.Spec.MaxFailedIndexes != nil && failed.total() > int(*job.Spec.MaxFailedIndexes):
				s.finished = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonMaxFailedIndexesExceeded, msgMaxFailedIndexesExceeded, s.now)
			case failed.total() > 0 && failed.total()+s.succeededIndexes.total() >= completions(job):
				s.finished = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonFailedIndexes, msgFailedIndexes, s.now)
			}
		}
		s.delayedDeletion = podsWithDelayedDeletion(job, s.pods, s.active, s.succeededIndexes, failed, s.expectedRmFinalizers)
	}
	if s.finished == nil {
		if msg, met := matchSuccessPolicy(job.Spec.SuccessPolicy, completions(job), s.succeededIndexes); met {
			s.finished = newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonSuccessPolicy, msg, s.now)
		}
	}
}

// isComplete says whether enough pods succeeded and none is running: with completions, that many;
// without, any one (the others are expected to finish on their own).
func isComplete(job *batchv1.Job, succeeded, active int32) bool {
	if active != 0 {
		return false
	}
	if job.Spec.Completions == nil {
		return succeeded > 0
	}
	return succeeded >= *job.Spec.Completions
}

// pastBackoffLimitOnFailure applies the backoff limit to pods restarted in place (restartPolicy
// OnFailure): their container restarts count as failures.
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, cs := range p.Status.InitContainerStatuses {
			restarts += cs.RestartCount
		}
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
		}
	}
	limit := ptr.Deref(job.Spec.BackoffLimit, 6)
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// pastActiveDeadline says whether the Job has been active (not suspended) for activeDeadlineSeconds.
func pastActiveDeadline(job *batchv1.Job, now time.Time) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || isSuspended(job) {
		return false
	}
	return now.Sub(job.Status.StartTime.Time) >= time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second
}

// updateSuspension sets the Suspended condition and reports whether the status changed. A suspended
// Job loses its startTime, so that it restarts the clock of activeDeadlineSeconds when resumed (the
// API server lets startTime change only while the Job is suspended).
func (r *Reconciler) updateSuspension(s *syncState) bool {
	st := &s.job.Status
	var changed bool
	if isSuspended(s.job) {
		st.Conditions, changed = ensureCondition(st.Conditions, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", s.now)
		if changed {
			r.Recorder.Event(s.job, corev1.EventTypeNormal, "Suspended", "Job suspended")
		}
		if st.StartTime != nil {
			st.StartTime = nil
			changed = true
		}
		return changed
	}
	st.Conditions, changed = ensureCondition(st.Conditions, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", s.now)
	if changed {
		r.Recorder.Event(s.job, corev1.EventTypeNormal, "Resumed", "Job resumed")
	}
	return changed
}

// manageJob creates or deletes pods so that the Job has as many active pods as it wants, and returns
// how many it has then. A sync either creates or deletes, never both.
func (r *Reconciler) manageJob(ctx context.Context, s *syncState) (int32, error) {
	job := s.job
	active := int32(len(s.active))
	if isSuspended(job) {
		return r.deleteJobPods(ctx, s, activePodsForRemoval(job, s.active, len(s.active)), active)
	}
	want := wantActive(job, active, s.succeeded)
	toDelete := activePodsForRemoval(job, s.active, int(max(active-want, 0)))
	if len(toDelete) > 0 {
		return r.deleteJobPods(ctx, s, toDelete[:min(len(toDelete), maxPodCreateDeletePerSync)], active)
	}

	var terminating int32
	if onlyReplaceFailedPods(job) {
		// Replacements wait until the pods they replace have finished.
		terminating = s.terminating
	}
	diff := int(want - terminating - active)
	if diff <= 0 {
		return active, nil
	}
	if !hasBackoffLimitPerIndex(job) {
		failures, last := failuresSinceLastSuccess(job, s.pods)
		if wait := r.backoff().remaining(failures, last, s.now); wait > 0 {
			s.requeue(wait)
			return active, nil
		}
	}
	diff = min(diff, maxPodCreateDeletePerSync)
	var indexes []int
	if isIndexed(job) {
		var failed intervals
		if s.failedIndexes != nil {
			failed = *s.failedIndexes
		}
		indexes = pendingIndexes(job, s.active, terminatingPods(s.pods), s.succeededIndexes, failed, diff)
		if hasBackoffLimitPerIndex(job) {
			var wait time.Duration
			if indexes, wait = r.indexesPastBackoff(indexes, s.delayedDeletion, s.now); wait > 0 {
				s.requeue(wait)
				return active, nil
			}
		}
		diff = len(indexes)
	}
	created, err := r.createPods(ctx, s, diff, indexes)
	return active + created, err
}

func terminatingPods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if isTerminating(p) {
			out = append(out, p)
		}
	}
	return out
}

// indexesPastBackoff keeps the indexes whose per-index backoff is over; if there is none, it returns
// how long until the first one is.
func (r *Reconciler) indexesPastBackoff(indexes []int, delayed map[int]*corev1.Pod, now time.Time) ([]int, time.Duration) {
	var ready []int
	var wait time.Duration
	for _, ix := range indexes {
		if w := r.backoff().remainingForIndex(delayed[ix], now); w <= 0 {
			ready = append(ready, ix)
		} else {
			wait = minPositive(wait, w)
		}
	}
	if len(ready) > 0 {
		return ready, 0
	}
	return nil, wait
}

// createPods creates n pods (one per index for an Indexed Job) in batches of 1, 2, 4, ...: if a batch
// has a failure the rest are not attempted, so that a Job without quota does not flood the API server.
// It returns how many it created.
func (r *Reconciler) createPods(ctx context.Context, s *syncState, n int, indexes []int) (int32, error) {
	if n <= 0 {
		return 0, nil
	}
	job := s.job
	template := podTemplate(job)
	r.expectations.expect(s.key, job.UID, n, 0)
	var created atomic.Int32
	var mu sync.Mutex
	var errs []error
	next := 0
	for batch := 1; next < n; batch = min(2*batch, n-next) {
		failedBefore := len(errs)
		var wg sync.WaitGroup
		for range batch {
			index := noIndex
			if indexes != nil {
				index = indexes[next]
			}
			next++
			var replaced *corev1.Pod
			if index != noIndex {
				replaced = s.delayedDeletion[index]
			}
			pod := newPod(job, template, index, replaced)
			wg.Go(func() {
				err := r.createPod(ctx, job, pod)
				if err == nil {
					created.Add(1)
					return
				}
				// The cache will never show this pod.
				r.expectations.creationObserved(s.key, job.UID)
				if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					// Nothing can be created in a namespace going away, nor needs to be.
					return
				}
				mu.Lock()
				errs = append(errs, fmt.Errorf("create pod for job %s: %w", s.key, err))
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(errs) > failedBefore {
			for range n - next {
				r.expectations.creationObserved(s.key, job.UID)
			}
			break
		}
	}
	return created.Load(), errors.Join(errs...)
}

// deleteJobPods deletes pods the Job no longer wants (too many, or the Job is suspended). Their
// finalizer is removed first: a pod the Job deleted is not a failure to count. It returns how many
// pods stay active.
func (r *Reconciler) deleteJobPods(ctx context.Context, s *syncState, pods []*corev1.Pod, active int32) (int32, error) {
	if len(pods) == 0 {
		return active, nil
	}
	job := s.job
	r.expectations.expect(s.key, job.UID, 0, len(pods))
	var removed, removedReady atomic.Int32
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		r.expectations.deletionObserved(s.key, job.UID)
		if !apierrors.IsNotFound(err) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			return
		}
		removed.Add(1)
	}
	var wg sync.WaitGroup
	for _, pod := range pods {
		wg.Go(func() {
			if err := patchOutTrackingFinalizer(ctx, r.Client, pod); err != nil {
				fail(fmt.Errorf("remove tracking finalizer of pod %s/%s: %w", pod.Namespace, pod.Name, err))
				return
			}
			if err := r.deletePod(ctx, job, pod); err != nil {
				fail(err)
				return
			}
			removed.Add(1)
			if isReady(pod) {
				removedReady.Add(1)
			}
		})
	}
	wg.Wait()
	s.terminating += removed.Load()
	s.ready -= removedReady.Load()
	return active - removed.Load(), errors.Join(errs...)
}

// deleteActivePods deletes the active pods of a Job that has reached its outcome, keeping their
// finalizers: they are counted (as failed, unless the Job succeeded) before they go. It returns how
// many of them were ready and how many are deleted.
func (r *Reconciler) deleteActivePods(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) (int32, int32, error) {
	var deleted, deletedReady atomic.Int32
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, pod := range pods {
		wg.Go(func() {
			if err := r.deletePod(ctx, job, pod); err != nil && !apierrors.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			deleted.Add(1)
			if isReady(pod) {
				deletedReady.Add(1)
			}
		})
	}
	wg.Wait()
	return deletedReady.Load(), deleted.Load(), errors.Join(errs...)
}

// trackStatus counts finished pods with the finalizer protocol: (1) list them in
// status.uncountedTerminatedPods and write the status, (2) remove their finalizers, (3) move them into
// the counters and write again. It also records the Job's interim and terminal conditions. A sync
// handles at most maxUncountedPods pods; the next sync goes on with the rest.
func (r *Reconciler) trackStatus(ctx context.Context, s *syncState, needsFlush bool) error {
	job := s.job
	st := &job.Status
	indexed := isIndexed(job)
	pods := s.pods
	if indexed {
		// Completed indexes are added in order.
		pods = slices.Clone(pods)
		slices.SortStableFunc(pods, func(a, b *corev1.Pod) int { return cmp.Compare(completionIndex(a), completionIndex(b)) })
	}
	withFinalizer := sets.New[string]()
	for _, p := range pods {
		if hasTrackingFinalizer(p) && !s.expectedRmFinalizers.Has(string(p.UID)) {
			withFinalizer.Insert(string(p.UID))
		}
	}
	if countUncounted(st, withFinalizer) {
		needsFlush = true
	}

	var release []*corev1.Pod
	var newSucceededIndexes []int
	reachedMax := false
	uncounted := st.UncountedTerminatedPods
	for _, p := range pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || s.expectedRmFinalizers.Has(uid) {
			continue
		}
		failed := isPodFailed(p, job)
		if !s.canRemoveFinalizer(p, failed) {
			continue
		}
		release = append(release, p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !s.uncountedFailed.Has(uid):
			if indexed {
				// The index itself guards against counting twice.
				if ix := validIndex(job, p); ix != noIndex && !s.prevSucceededIndexes.has(ix) {
					newSucceededIndexes = append(newSucceededIndexes, ix)
					needsFlush = true
				}
			} else if !s.uncountedSucceeded.Has(uid) {
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
				needsFlush = true
			}
		case failed || (s.finished != nil && !isSuccessCriteriaMet(s.finished)):
			// Once the Job has failed, every pod that did not succeed counts as failed.
			if !s.uncountedFailed.Has(uid) && (!indexed || validIndex(job, p) != noIndex) &&
				matchPodFailurePolicy(job.Spec.PodFailurePolicy, p).countFailed {
				uncounted.Failed = append(uncounted.Failed, p.UID)
				needsFlush = true
			}
		}
		if len(newSucceededIndexes)+len(uncounted.Succeeded)+len(uncounted.Failed) >= maxUncountedPods {
			reachedMax = true
			break
		}
	}
	if indexed {
		s.succeededIndexes = s.succeededIndexes.withIndexes(newSucceededIndexes)
		if completed := s.succeededIndexes.String(); completed != st.CompletedIndexes {
			st.CompletedIndexes = completed
			needsFlush = true
		}
		st.Succeeded = int32(s.succeededIndexes.total())
		var failedIndexes *string
		if s.failedIndexes != nil {
			failedIndexes = ptr.To(s.failedIndexes.String())
		}
		if !ptr.Equal(st.FailedIndexes, failedIndexes) {
			st.FailedIndexes = failedIndexes
			needsFlush = true
		}
	}
	if s.finished != nil && s.finished.Type == batchv1.JobFailureTarget {
		// Recorded before any finalizer goes, so that the reason survives the pods.
		st.Conditions = append(st.Conditions, *s.finished)
		needsFlush = true
		s.finished = newCondition(batchv1.JobFailed, corev1.ConditionTrue, s.finished.Reason, s.finished.Message, s.now)
	}
	if isSuccessCriteriaMet(s.finished) {
		if recordsSuccessCriteriaMet(job) && trueCondition(job, batchv1.JobSuccessCriteriaMet) == nil {
			st.Conditions = append(st.Conditions, *s.finished)
			needsFlush = true
		}
		s.finished = newCondition(batchv1.JobComplete, corev1.ConditionTrue, s.finished.Reason, s.finished.Message, s.now)
	}

	needsFlush, err := r.flushAndRelease(ctx, s, release, withFinalizer, needsFlush)
	if err != nil {
		return err
	}
	finished := !reachedMax && s.enactFinished()
	if !finished && !needsFlush {
		return nil
	}
	if err := r.updateStatus(ctx, job); err != nil {
		return fmt.Errorf("update counters: %w", err)
	}
	if finished {
		r.recordFinished(job, s.finished)
	}
	return nil
}

// canRemoveFinalizer says whether a pod is done with as far as the Job is concerned: it succeeded or
// failed, or the Job is finished or being deleted. A failed pod whose index awaits a replacement keeps
// its finalizer until the replacement has inherited its failure count.
func (s *syncState) canRemoveFinalizer(pod *corev1.Pod, failed bool) bool {
	if s.job.DeletionTimestamp != nil || s.finished != nil || pod.Status.Phase == corev1.PodSucceeded {
		return true
	}
	if !failed {
		return false
	}
	if hasBackoffLimitPerIndex(s.job) {
		if ix := completionIndex(pod); ix != noIndex {
			if p, ok := s.delayedDeletion[ix]; ok && p.UID == pod.UID {
				return false
			}
		}
	}
	return true
}

// flushAndRelease writes the status if it lists new uncounted pods, removes the finalizers of the
// pods to release, and moves the released ones into the counters. It reports whether the status has
// changes left to write.
func (r *Reconciler) flushAndRelease(ctx context.Context, s *syncState, release []*corev1.Pod, withFinalizer sets.Set[string], needsFlush bool) (bool, error) {
	if needsFlush {
		if err := r.updateStatus(ctx, s.job); err != nil {
			return true, fmt.Errorf("add uncounted pods to status: %w", err)
		}
		needsFlush = false
	}
	var releaseErr error
	if len(release) > 0 {
		var released []bool
		released, releaseErr = r.removeFinalizers(ctx, s, release)
		for i, p := range release {
			if released[i] {
				withFinalizer.Delete(string(p.UID))
			}
		}
	}
	if countUncounted(&s.job.Status, withFinalizer) {
		needsFlush = true
	}
	if releaseErr != nil && needsFlush {
		// Keep what was counted before giving up.
		if err := r.updateStatus(ctx, s.job); err != nil {
			return true, fmt.Errorf("remove uncounted pods from status: %w", err)
		}
	}
	return needsFlush, releaseErr
}

// removeFinalizers removes the tracking finalizer from the pods, telling for each whether it is gone.
func (r *Reconciler) removeFinalizers(ctx context.Context, s *syncState, pods []*corev1.Pod) ([]bool, error) {
	uids := make([]string, len(pods))
	for i, p := range pods {
		uids[i] = string(p.UID)
	}
	// Expected before the patches, so that the update events cannot come first.
	r.expectations.expectFinalizersRemoved(s.key, s.job.UID, uids)
	released := make([]bool, len(pods))
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for i, pod := range pods {
		wg.Go(func() {
			err := patchOutTrackingFinalizer(ctx, r.Client, pod)
			if err != nil {
				r.expectations.finalizerRemovalObserved(s.key, s.job.UID, string(pod.UID))
				if !apierrors.IsNotFound(err) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("remove tracking finalizer of pod %s/%s: %w", pod.Namespace, pod.Name, err))
					mu.Unlock()
					return
				}
			}
			released[i] = true
		})
	}
	wg.Wait()
	return released, errors.Join(errs...)
}

// countUncounted moves the uncounted pods whose finalizer is gone into the succeeded and failed
// counters, and reports whether it moved any.
func countUncounted(st *batchv1.JobStatus, withFinalizer sets.Set[string]) bool {
	u := st.UncountedTerminatedPods
	changed := false
	if keep := keepUIDs(u.Succeeded, withFinalizer); len(keep) != len(u.Succeeded) {
		st.Succeeded += int32(len(u.Succeeded) - len(keep))
		u.Succeeded = keep
		changed = true
	}
	if keep := keepUIDs(u.Failed, withFinalizer); len(keep) != len(u.Failed) {
		st.Failed += int32(len(u.Failed) - len(keep))
		u.Failed = keep
		changed = true
	}
	return changed
}

func keepUIDs(uids []types.UID, keep sets.Set[string]) []types.UID {
	var out []types.UID
	for _, uid := range uids {
		if keep.Has(string(uid)) {
			out = append(out, uid)
		}
	}
	return out
}

// enactFinished adds the terminal condition once every pod is counted and none is still terminating,
// and reports whether it did.
func (s *syncState) enactFinished() bool {
	if s.finished == nil {
		return false
	}
	st := &s.job.Status
	if u := st.UncountedTerminatedPods; len(u.Succeeded)+len(u.Failed) > 0 {
		return false
	}
	if s.terminating > 0 {
		return false
	}
	c := s.finished
	st.Conditions, _ = ensureCondition(st.Conditions, c.Type, c.Status, c.Reason, c.Message, s.now)
	if st.StartTime == nil {
		// A finished Job has a start time; one suspended before it could start gets it now.
		st.StartTime = ptr.To(metav1.NewTime(s.now))
	}
	if c.Type == batchv1.JobComplete {
		st.CompletionTime = ptr.To(metav1.NewTime(s.now))
	}
	return true
}

// recordFinished records the events of a Job that just finished.
func (r *Reconciler) recordFinished(job *batchv1.Job, c *batchv1.JobCondition) {
	if c.Type != batchv1.JobComplete {
		r.Recorder.Event(job, corev1.EventTypeWarning, c.Reason, c.Message)
		return
	}
	if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
		r.Recorder.Event(job, corev1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
	}
	r.Recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
}

func (r *Reconciler) updateStatus(ctx context.Context, job *batchv1.Job) error {
	return r.Client.Status().Update(ctx, job)
}

func uidSet(uids []types.UID) sets.Set[string] {
	out := sets.New[string]()
	for _, uid := range uids {
		out.Insert(string(uid))
	}
	return out
}
