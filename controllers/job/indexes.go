package job

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
)

const (
	// completionIndexEnv is the variable through which a pod of an Indexed Job learns its index.
	completionIndexEnv = "JOB_COMPLETION_INDEX"
	// noIndex stands for a pod without a valid completion index.
	noIndex = -1
	// maxGeneratedNameLength is how long a generateName prefix may be: the API server appends five
	// random characters to stay within the 63 of a DNS label.
	maxGeneratedNameLength = 63 - 5
)

// interval is an inclusive range of completion indexes.
type interval struct{ first, last int }

// intervals is a sorted list of disjoint, non-adjacent index ranges: the form of
// status.completedIndexes and status.failedIndexes ("1,3-5,7").
type intervals []interval

// parseIntervals reads an index list as written in the Job status, keeping only indexes below
// completions; malformed parts are skipped, as the status may have been written by anyone.
func parseIntervals(s string, completions int) intervals {
	if s == "" {
		return nil
	}
	var out intervals
	for _, part := range strings.Split(s, ",") {
		bounds := strings.SplitN(part, "-", 2)
		first, err := strconv.Atoi(bounds[0])
		if err != nil || first < 0 {
			continue
		}
		if first >= completions {
			break
		}
		last := first
		if len(bounds) == 2 {
			if last, err = strconv.Atoi(bounds[1]); err != nil || last < first {
				continue
			}
			last = min(last, completions-1)
		}
		out = out.merge(intervals{{first, last}})
	}
	return out
}

// withIndexes returns the intervals with the given indexes added; the indexes need not be sorted.
func (iv intervals) withIndexes(indexes []int) intervals {
	sorted := slices.Clone(indexes)
	slices.Sort(sorted)
	add := make(intervals, 0, len(sorted))
	for _, ix := range sorted {
		add = append(add, interval{ix, ix})
	}
	return iv.merge(add)
}

// merge returns the union of two interval lists, joining ranges that overlap or touch.
func (iv intervals) merge(other intervals) intervals {
	var out intervals
	push := func(next interval) {
		if n := len(out); n > 0 && next.first <= out[n-1].last+1 {
			out[n-1].last = max(out[n-1].last, next.last)
			return
		}
		out = append(out, next)
	}
	i, j := 0, 0
	for i < len(iv) || j < len(other) {
		if j == len(other) || (i < len(iv) && iv[i].first < other[j].first) {
			push(iv[i])
			i++
		} else {
			push(other[j])
			j++
		}
	}
	return out
}

// total is how many indexes the intervals hold.
func (iv intervals) total() int {
	n := 0
	for _, r := range iv {
		n += r.last - r.first + 1
	}
	return n
}

// has reports whether ix is in one of the intervals.
func (iv intervals) has(ix int) bool {
	_, found := slices.BinarySearchFunc(iv, ix, func(r interval, ix int) int {
		switch {
		case r.last < ix:
			return -1
		case r.first > ix:
			return 1
		}
		return 0
	})
	return found
}

// String writes the intervals as upstream does: a pair of neighbours is written "3,4", longer runs "3-5".
func (iv intervals) String() string {
	var b strings.Builder
	for _, r := range iv {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.first))
		switch {
		case r.last == r.first+1:
			b.WriteByte(',')
			b.WriteString(strconv.Itoa(r.last))
		case r.last > r.first:
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(r.last))
		}
	}
	return b.String()
}

func isIndexed(job *batchv1.Job) bool {
	return ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
}

func hasBackoffLimitPerIndex(job *batchv1.Job) bool {
	return isIndexed(job) && job.Spec.BackoffLimitPerIndex != nil
}

// completions is spec.completions, which validation requires for Indexed Jobs; 0 if unset.
func completions(job *batchv1.Job) int {
	return int(ptr.Deref(job.Spec.Completions, 0))
}

// completionIndex reads a pod's completion index annotation; noIndex if absent or invalid.
func completionIndex(pod *corev1.Pod) int {
	v, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return noIndex
	}
	ix, err := strconv.Atoi(v)
	if err != nil || ix < 0 {
		return noIndex
	}
	return ix
}

// validIndex is the pod's completion index if it is one the Job wants (below completions), else noIndex.
func validIndex(job *batchv1.Job, pod *corev1.Pod) int {
	if ix := completionIndex(pod); ix != noIndex && ix < completions(job) {
		return ix
	}
	return noIndex
}

// indexesOf returns the valid completion indexes the pods hold.
func indexesOf(pods []*corev1.Pod) sets.Set[int] {
	out := sets.New[int]()
	for _, p := range pods {
		if ix := completionIndex(p); ix != noIndex {
			out.Insert(ix)
		}
	}
	return out
}

// succeededIndexes returns the indexes already recorded as completed in the status and those plus the
// indexes of succeeded pods not yet counted (they still carry the tracking finalizer).
func succeededIndexes(job *batchv1.Job, pods []*corev1.Pod) (prev, now intervals) {
	prev = parseIntervals(job.Status.CompletedIndexes, completions(job))
	var fresh []int
	for _, p := range pods {
		if ix := validIndex(job, p); ix != noIndex && p.Status.Phase == corev1.PodSucceeded && hasTrackingFinalizer(p) {
			fresh = append(fresh, ix)
		}
	}
	return prev, prev.withIndexes(fresh)
}

// failedIndexes returns the indexes recorded as failed in the status plus those of pods, not yet counted,
// whose failure exhausts their index's backoff limit or matches a FailIndex rule.
func failedIndexes(job *batchv1.Job, pods []*corev1.Pod) intervals {
	var prev intervals
	if job.Status.FailedIndexes != nil {
		prev = parseIntervals(*job.Status.FailedIndexes, completions(job))
	}
	var fresh []int
	for _, p := range pods {
		if ix := validIndex(job, p); ix != noIndex && hasTrackingFinalizer(p) && isIndexFailed(job, p) {
			fresh = append(fresh, ix)
		}
	}
	return prev.withIndexes(fresh)
}

// isIndexFailed reports whether a pod's failure fails its whole index.
func isIndexFailed(job *batchv1.Job, pod *corev1.Pod) bool {
	if !isPodFailed(pod, job) {
		return false
	}
	counted := true
	if job.Spec.PodFailurePolicy != nil {
		m := matchPodFailurePolicy(job.Spec.PodFailurePolicy, pod)
		if m.action != nil && *m.action == batchv1.PodFailurePolicyActionFailIndex {
			return true
		}
		counted = m.countFailed
	}
	return counted && indexFailureCount(pod) >= ptr.Deref(job.Spec.BackoffLimitPerIndex, 0)
}

// pendingIndexes returns up to count indexes below completions that no active pod holds and that have
// neither succeeded nor failed. Under podReplacementPolicy Failed the indexes of terminating pods are
// not pending either: their replacement waits for them to be gone.
func pendingIndexes(job *batchv1.Job, active, terminating []*corev1.Pod, succeeded intervals, failed intervals, count int) []int {
	if count <= 0 {
		return nil
	}
	taken := succeeded.withIndexes(sets.List(indexesOf(active)))
	if onlyReplaceFailedPods(job) {
		taken = taken.withIndexes(sets.List(indexesOf(terminating)))
	}
	taken = taken.merge(failed)
	var out []int
	candidate := 0
	limit := completions(job)
	for _, r := range taken {
		for ; candidate < limit && candidate < r.first && len(out) < count; candidate++ {
			out = append(out, candidate)
		}
		candidate = max(candidate, r.last+1)
	}
	for ; candidate < limit && len(out) < count; candidate++ {
		out = append(out, candidate)
	}
	return out
}

// duplicateIndexPods splits active pods of an Indexed Job into those to remove (no valid index, or a
// second pod for an index) and those to keep. Of pods sharing an index the one most worth keeping stays.
func duplicateIndexPods(job *batchv1.Job, pods []*corev1.Pod) (remove, keep []*corev1.Pod) {
	byIndex := map[int][]*corev1.Pod{}
	for _, p := range pods {
		ix := validIndex(job, p)
		if ix == noIndex {
			remove = append(remove, p)
			continue
		}
		byIndex[ix] = append(byIndex[ix], p)
	}
	for _, ix := range slices.Sorted(maps.Keys(byIndex)) {
		group := byIndex[ix]
		slices.SortStableFunc(group, compareForRemoval)
		remove = append(remove, group[:len(group)-1]...)
		keep = append(keep, group[len(group)-1])
	}
	return remove, keep
}

// indexFailureCount reads the count of counted failures of earlier pods of the same index.
func indexFailureCount(pod *corev1.Pod) int32 {
	return annotationInt32(pod, batchv1.JobIndexFailureCountAnnotation)
}

// indexAbsoluteFailureCount also includes the failures a pod failure policy told to ignore.
func indexAbsoluteFailureCount(pod *corev1.Pod) int32 {
	return indexFailureCount(pod) + annotationInt32(pod, batchv1.JobIndexIgnoredFailureCountAnnotation)
}

// annotationInt32 reads a non-negative int32 annotation; anything else counts as 0, as the annotation
// may have been edited by hand.
func annotationInt32(pod *corev1.Pod, key string) int32 {
	v, err := strconv.Atoi(pod.Annotations[key])
	if err != nil || v < 0 || v > math.MaxInt32 {
		return 0
	}
	return int32(v)
}

// nextIndexFailureCounts returns the failure counts a replacement of a failed pod starts with.
func nextIndexFailureCounts(job *batchv1.Job, replaced *corev1.Pod) (failures, ignored int32) {
	if replaced == nil {
		return 0, 0
	}
	failures = indexFailureCount(replaced)
	ignored = annotationInt32(replaced, batchv1.JobIndexIgnoredFailureCountAnnotation)
	if job.Spec.PodFailurePolicy != nil && !matchPodFailurePolicy(job.Spec.PodFailurePolicy, replaced).countFailed {
		ignored++
	} else {
		failures++
	}
	return failures, ignored
}

// podsWithDelayedDeletion returns, per index with no active, succeeded or failed state, the last failed
// pod (not yet counted). Its finalizer stays until its replacement exists, so that the replacement can
// inherit the index's failure count from it.
func podsWithDelayedDeletion(job *batchv1.Job, pods, active []*corev1.Pod, succeeded, failed intervals, expectedRm sets.Set[string]) map[int]*corev1.Pod {
	activeIndexes := indexesOf(active)
	out := map[int]*corev1.Pod{}
	for _, p := range pods {
		if !hasTrackingFinalizer(p) || expectedRm.Has(string(p.UID)) || !isPodFailed(p, job) {
			continue
		}
		ix := validIndex(job, p)
		if ix == noIndex || succeeded.has(ix) || failed.has(ix) || activeIndexes.Has(ix) {
			continue
		}
		last, ok := out[ix]
		if !ok || (indexAbsoluteFailureCount(last) <= indexAbsoluteFailureCount(p) && !finishTime(p).Before(finishTime(last))) {
			out[ix] = p
		}
	}
	return out
}

// podGenerateNameWithIndex is the generateName of a pod for an index, "<job>-<index>-", with the Job's
// name shortened if needed.
func podGenerateNameWithIndex(jobName string, index int) string {
	suffix := fmt.Sprintf("-%d-", index)
	prefix := jobName + suffix
	if len(prefix) > maxGeneratedNameLength {
		prefix = jobName[:maxGeneratedNameLength-len(suffix)] + suffix
	}
	return prefix
}
