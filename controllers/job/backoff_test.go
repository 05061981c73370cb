package job

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestBackoffDelayDoublesUpToTheLimit(t *testing.T) {
	b := backoff{base: 10 * time.Second, limit: 6 * time.Minute}
	want := map[int32]time.Duration{
		0: 0, 1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 4: 80 * time.Second,
		5: 160 * time.Second, 6: 320 * time.Second, 7: 6 * time.Minute, 50: 6 * time.Minute,
	}
	for failures, d := range want {
		if got := b.delay(failures); got != d {
			t.Errorf("delay(%d) = %v, want %v", failures, got, d)
		}
	}
}

func TestBackoffRemaining(t *testing.T) {
	b := backoff{base: 10 * time.Second, limit: time.Minute}
	cases := []struct {
		name     string
		failures int32
		since    time.Duration
		want     time.Duration
	}{
		{"no failure, no wait", 0, 0, 0},
		{"first failure just now", 1, 0, 10 * time.Second},
		{"first failure 4s ago", 1, 4 * time.Second, 6 * time.Second},
		{"third failure 15s ago", 3, 15 * time.Second, 25 * time.Second},
		{"long over", 2, time.Hour, 0},
	}
	for _, tc := range cases {
		if got := b.remaining(tc.failures, t0, t0.Add(tc.since)); got != tc.want {
			t.Errorf("%s: remaining = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFailuresSinceLastSuccess(t *testing.T) {
	finished := func(name string, phase corev1.PodPhase, at time.Duration, tracked bool) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name)},
			Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(t0.Add(at))}}}}},
		}
		if tracked {
			p.Finalizers = []string{batchv1.JobTrackingFinalizer}
		}
		return p
	}
	deleted := func(name string, at time.Duration, tracked bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), DeletionTimestamp: ptr.To(metav1.NewTime(t0.Add(at)))},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		if tracked {
			p.Finalizers = []string{batchv1.JobTrackingFinalizer}
		}
		return p
	}
	job := &batchv1.Job{}
	cases := []struct {
		name         string
		pods         []*corev1.Pod
		wantFailures int32
		wantLast     time.Duration
	}{
		{"no pods", nil, 0, 0},
		{"failures without success, counted or not", []*corev1.Pod{
			finished("a", corev1.PodFailed, 1*time.Second, false),
			finished("b", corev1.PodFailed, 5*time.Second, true),
			finished("c", corev1.PodFailed, 3*time.Second, false),
		}, 3, 5 * time.Second},
		{"a success resets the count", []*corev1.Pod{
			finished("a", corev1.PodFailed, 1*time.Second, false),
			finished("s", corev1.PodSucceeded, 2*time.Second, false),
			finished("b", corev1.PodFailed, 3*time.Second, true),
		}, 1, 3 * time.Second},
		{"no failure after the last success", []*corev1.Pod{
			finished("a", corev1.PodFailed, 1*time.Second, false),
			finished("s", corev1.PodSucceeded, 2*time.Second, false),
		}, 0, 0},
		{"a pod deleted before finishing counts until it is counted", []*corev1.Pod{
			deleted("d", 4*time.Second, true),
			deleted("gone", 6*time.Second, false),
		}, 1, 4 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			failures, last := failuresSinceLastSuccess(job, tc.pods)
			if failures != tc.wantFailures {
				t.Errorf("failures = %d, want %d", failures, tc.wantFailures)
			}
			if tc.wantFailures > 0 && !last.Equal(t0.Add(tc.wantLast)) {
				t.Errorf("last failure at %v, want %v", last, t0.Add(tc.wantLast))
			}
		})
	}
}

func TestBackoffForIndexUsesTheFailuresOfTheIndex(t *testing.T) {
	b := backoff{base: 10 * time.Second, limit: time.Minute}
	if got := b.remainingForIndex(nil, t0); got != 0 {
		t.Errorf("an index without failed pod waits %v", got)
	}
	pod := indexedPod("p", 0, corev1.PodFailed, func(p *corev1.Pod) {
		p.Annotations[batchv1.JobIndexFailureCountAnnotation] = "1"
		p.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = "1"
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(t0)}}}}
	})
	// Two earlier failures plus this one: 40s after it finished.
	if got := b.remainingForIndex(pod, t0.Add(5*time.Second)); got != 35*time.Second {
		t.Errorf("remaining = %v, want 35s", got)
	}
}
