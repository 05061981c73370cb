package job

import (
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// backoff is the delay before failed pods are replaced: base after the first failure, doubling with
// each further failure since the last success, up to limit.
type backoff struct {
	base, limit time.Duration
}

// delay is the backoff after the given number of consecutive failures.
func (b backoff) delay(failures int32) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := b.base
	for i := int32(1); i < failures && d < b.limit; i++ {
		d *= 2
	}
	return min(d, b.limit)
}

// remaining is how long, at now, is left of the backoff after failures consecutive failures, the last
// of which finished at last.
func (b backoff) remaining(failures int32, last, now time.Time) time.Duration {
	if failures <= 0 {
		return 0
	}
	return max(0, b.delay(failures)-now.Sub(last))
}

// failuresSinceLastSuccess reads the recent history of a Job from its pods: how many failed after the
// last one that succeeded, and when the latest of those finished. It is derived from the pods rather
// than remembered, so that it survives restarts; a pod that is gone no longer counts.
func failuresSinceLastSuccess(job *batchv1.Job, pods []*corev1.Pod) (int32, time.Time) {
	var lastSuccess time.Time
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded {
			if t := finishTime(p); t.After(lastSuccess) {
				lastSuccess = t
			}
		}
	}
	var failures int32
	var lastFailure time.Time
	for _, p := range pods {
		if !countsForBackoff(job, p) {
			continue
		}
		t := finishTime(p)
		if !t.After(lastSuccess) {
			continue
		}
		failures++
		if t.After(lastFailure) {
			lastFailure = t
		}
	}
	return failures, lastFailure
}

// countsForBackoff says whether a pod is a failure that delays the next pods: a Failed pod, or one
// deleted before it finished that the Job has not yet counted (once counted its deletion was the Job's
// own doing or is history).
func countsForBackoff(job *batchv1.Job, pod *corev1.Pod) bool {
	if pod.Status.Phase == corev1.PodFailed {
		return true
	}
	return hasTrackingFinalizer(pod) && isPodFailed(pod, job)
}

// remainingForIndex is the backoff left before an index whose last pod failed gets a new pod.
func (b backoff) remainingForIndex(lastFailed *corev1.Pod, now time.Time) time.Duration {
	if lastFailed == nil {
		return 0
	}
	return b.remaining(indexAbsoluteFailureCount(lastFailed)+1, finishTime(lastFailed), now)
}
