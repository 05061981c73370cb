package job

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

const timeout = 30 * time.Second

func startController(t *testing.T) *ctrltest.Cluster {
	t.Helper()
	return ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&Reconciler{
			Client:   mgr.GetClient(),
			Recorder: mgr.GetEventRecorderFor("job-controller"),
			// Short, so that replacing failed pods does not slow the tests down.
			PodFailureBackoff:    50 * time.Millisecond,
			MaxPodFailureBackoff: 200 * time.Millisecond,
		}).SetupWithManager(mgr)
	})
}

func TestJobController(t *testing.T) {
	c := startController(t)
	ctx := context.Background()

	t.Run("a job with completions 5 and parallelism 2 never runs more than 2 pods and completes", func(t *testing.T) {
		ns := c.Namespace(t)
		maxActive := watchMaxActivePods(t, c, ns)
		job := createJob(t, c, newJob(ns, "five", func(j *batchv1.Job) {
			j.Spec.Completions = ptr.To(int32(5))
			j.Spec.Parallelism = ptr.To(int32(2))
		}))
		finished := 0
		for finished < 5 {
			pod := waitActivePod(t, c, job)
			checkPodOfJob(t, pod, job)
			finishPod(t, c, pod, 0)
			finished++
		}
		job = waitJob(t, c, job, "Complete", func(j *batchv1.Job) bool {
			return hasCondition(j, batchv1.JobComplete, batchv1.JobReasonCompletionsReached)
		})
		if job.Status.Succeeded != 5 || job.Status.Failed != 0 || job.Status.Active != 0 {
			t.Errorf("status succeeded/failed/active = %d/%d/%d, want 5/0/0", job.Status.Succeeded, job.Status.Failed, job.Status.Active)
		}
		if job.Status.CompletionTime == nil || job.Status.StartTime == nil || job.Status.CompletionTime.Before(job.Status.StartTime) {
			t.Errorf("startTime %v, completionTime %v: want both, in order", job.Status.StartTime, job.Status.CompletionTime)
		}
		if got := maxActive(); got != 2 {
			t.Errorf("most pods active at once = %d, want 2 (parallelism)", got)
		}
		pods := jobPods(t, c, job)
		if len(pods) != 5 {
			t.Errorf("job made %d pods, want 5", len(pods))
		}
		ctrltest.Eventually(t, timeout, "tracking finalizers removed from counted pods", func(ctx context.Context) (bool, error) {
			for _, p := range jobPods(t, c, job) {
				if hasTrackingFinalizer(&p) {
					return false, nil
				}
			}
			return true, nil
		})
		waitEvent(t, c, job, corev1.EventTypeNormal, "Completed", "Job completed")
		waitEvent(t, c, job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: "+pods[0].Name)
	})

	t.Run("a job without completions is complete once a pod succeeded and the others finished", func(t *testing.T) {
		ns := c.Namespace(t)
		job := createJob(t, c, newJob(ns, "work-queue", func(j *batchv1.Job) {
			j.Spec.Completions = nil
			j.Spec.Parallelism = ptr.To(int32(2))
		}))
		pods := waitPods(t, c, job, 2)
		finishPod(t, c, &pods[0], 0)
		waitJob(t, c, job, "one succeeded, one still active", func(j *batchv1.Job) bool {
			return j.Status.Succeeded == 1 && j.Status.Active == 1
		})
		if got := len(jobPods(t, c, job)); got != 2 {
			t.Fatalf("after the first success the job has %d pods, want the 2 it had", got)
		}
		finishPod(t, c, &pods[1], 0)
		waitJob(t, c, job, "Complete", func(j *batchv1.Job) bool { return hasCondition(j, batchv1.JobComplete, "") })
	})

	t.Run("a job whose pods keep failing exceeds its backoff limit and fails", func(t *testing.T) {
		ns := c.Namespace(t)
		job := createJob(t, c, newJob(ns, "failing", func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To(int32(1)) }))
		first := waitActivePod(t, c, job)
		finishPod(t, c, first, 1)
		second := waitActivePod(t, c, job)
		if second.UID == first.UID {
			t.Fatalf("failed pod was not replaced")
		}
		finishPod(t, c, second, 1)
		job = waitJob(t, c, job, "Failed with BackoffLimitExceeded", func(j *batchv1.Job) bool {
			return hasCondition(j, batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded)
		})
		if !hasCondition(job, batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded) {
			t.Errorf("conditions %v: want the interim FailureTarget beside Failed", job.Status.Conditions)
		}
		if job.Status.Failed != 2 || job.Status.Active != 0 || job.Status.CompletionTime != nil {
			t.Errorf("failed %d, active %d, completionTime %v: want 2, 0, none", job.Status.Failed, job.Status.Active, job.Status.CompletionTime)
		}
		if got := len(jobPods(t, c, job)); got != 2 {
			t.Errorf("job made %d pods, want 2 (one retry)", got)
		}
		waitEvent(t, c, job, corev1.EventTypeWarning, batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimitExceeded)
	})

	t.Run("an indexed job gives each pod its index and records completed indexes", func(t *testing.T) {
		ns := c.Namespace(t)
		job := createJob(t, c, newJob(ns, "indexed", func(j *batchv1.Job) {
			j.Spec.Completions = ptr.To(int32(3))
			j.Spec.Parallelism = ptr.To(int32(3))
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		}))
		pods := waitPods(t, c, job, 3)
		byIndex := map[int]corev1.Pod{}
		for _, p := range pods {
			ix := completionIndex(&p)
			if ix == noIndex {
				t.Fatalf("pod %s has no completion index annotation", p.Name)
			}
			byIndex[ix] = p
			want := fmt.Sprint(ix)
			if p.Labels[batchv1.JobCompletionIndexAnnotation] != want {
				t.Errorf("pod %s: index label %q, want %q", p.Name, p.Labels[batchv1.JobCompletionIndexAnnotation], want)
			}
			if wantHost := fmt.Sprintf("indexed-%d", ix); p.Spec.Hostname != wantHost {
				t.Errorf("pod %s: hostname %q, want %q", p.Name, p.Spec.Hostname, wantHost)
			}
			if prefix := fmt.Sprintf("indexed-%d-", ix); !strings.HasPrefix(p.Name, prefix) {
				t.Errorf("pod %s: name should start with %q", p.Name, prefix)
			}
			env := p.Spec.Containers[0].Env
			if i := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == completionIndexEnv }); i < 0 ||
				env[i].ValueFrom == nil || env[i].ValueFrom.FieldRef == nil ||
				env[i].ValueFrom.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/job-completion-index']" {
				t.Errorf("pod %s: env %v, want JOB_COMPLETION_INDEX from the index label", p.Name, env)
			}
		}
		if len(byIndex) != 3 {
			t.Fatalf("indexes %v, want 0, 1 and 2 once each", byIndex)
		}
		for _, ix := range []int{2, 0} {
			p := byIndex[ix]
			finishPod(t, c, &p, 0)
		}
		waitJob(t, c, job, `completedIndexes "0,2"`, func(j *batchv1.Job) bool { return j.Status.CompletedIndexes == "0,2" })
		p := byIndex[1]
		finishPod(t, c, &p, 0)
		job = waitJob(t, c, job, "Complete", func(j *batchv1.Job) bool { return hasCondition(j, batchv1.JobComplete, "") })
		if job.Status.CompletedIndexes != "0-2" || job.Status.Succeeded != 3 {
			t.Errorf("completedIndexes %q, succeeded %d; want \"0-2\", 3", job.Status.CompletedIndexes, job.Status.Succeeded)
		}
	})

	t.Run("an indexed job with a per-index backoff limit retries an index, then fails it", func(t *testing.T) {
		ns := c.Namespace(t)
		job := createJob(t, c, newJob(ns, "per-index", func(j *batchv1.Job) {
			j.Spec.Completions = ptr.To(int32(2))
			j.Spec.Parallelism = ptr.To(int32(2))
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.BackoffLimitPerIndex = ptr.To(int32(1))
		}))
		podOfIndex := func(ix int) *corev1.Pod {
			t.Helper()
			var found *corev1.Pod
			ctrltest.Eventually(t, timeout, fmt.Sprintf("an active pod for index %d", ix), func(ctx context.Context) (bool, error) {
				for _, p := range activeOf(jobPods(t, c, job)) {
					if completionIndex(&p) == ix {
						found = &p
						return true, nil
					}
				}
				return false, nil
			})
			return found
		}
		first := podOfIndex(0)
		if got := first.Annotations[batchv1.JobIndexFailureCountAnnotation]; got != "0" {
			t.Errorf("first pod of index 0: failure count %q, want 0", got)
		}
		finishPod(t, c, first, 1)
		retry := podOfIndex(0)
		if got := retry.Annotations[batchv1.JobIndexFailureCountAnnotation]; retry.UID == first.UID || got != "1" {
			t.Errorf("retry of index 0: failure count %q, want 1", got)
		}
		finishPod(t, c, retry, 1)
		waitJob(t, c, job, `failedIndexes "0"`, func(j *batchv1.Job) bool { return ptr.Deref(j.Status.FailedIndexes, "") == "0" })
		finishPod(t, c, podOfIndex(1), 0)
		job = waitJob(t, c, job, "Failed with FailedIndexes", func(j *batchv1.Job) bool {
			return hasCondition(j, batchv1.JobFailed, batchv1.JobReasonFailedIndexes)
		})
		if job.Status.CompletedIndexes != "1" || job.Status.Failed != 2 || job.Status.Succeeded != 1 {
			t.Errorf("completedIndexes %q, failed %d, succeeded %d; want \"1\", 2, 1", job.Status.CompletedIndexes, job.Status.Failed, job.Status.Succeeded)
		}
	})

	t.Run("suspending a job deletes its active pods and resuming starts them again", func(t *testing.T) {
		ns := c.Namespace(t)
		job := createJob(t, c, newJob(ns, "pausable", func(j *batchv1.Job) {
			j.Spec.Completions = ptr.To(int32(4))
			j.Spec.Parallelism = ptr.To(int32(2))
		}))
		waitPods(t, c, job, 2)
		setSuspend(t, c, job, true)
		job = waitJob(t, c, job, "Suspended", func(j *batchv1.Job) bool {
			return hasCondition(j, batchv1.JobSuspended, "JobSuspended") && j.Status.Active == 0
		})
		if job.Status.StartTime != nil {
			t.Errorf("suspended job keeps startTime %v, want it cleared until resumed", job.Status.StartTime)
		}
		ctrltest.Eventually(t, timeout, "pods of the suspended job deleted", func(ctx context.Context) (bool, error) {
			return len(jobPods(t, c, job)) == 0, nil
		})
		waitEvent(t, c, job, corev1.EventTypeNormal, "Suspended", "Job suspended")

		setSuspend(t, c, job, false)
		job = waitJob(t, c, job, "resumed", func(j *batchv1.Job) bool {
			cond := findCondition(j.Status.Conditions, batchv1.JobSuspended)
			return cond != nil && cond.Status == corev1.ConditionFalse && cond.Reason == "JobResumed" && j.Status.Active == 2
		})
		if job.Status.StartTime == nil {
			t.Errorf("resumed job has no startTime")
		}
		if job.Status.Failed != 0 {
			t.Errorf("pods deleted by suspension counted as %d failures", job.Status.Failed)
		}
		waitPods(t, c, job, 2)
	})

	t.Run("a pod failure policy FailJob rule on exit code 42 fails the job at once", func(t *testing.T) {
		ns := c.Namespace(t)
		job := createJob(t, c, newJob(ns, "policy", func(j *batchv1.Job) {
			j.Spec.Parallelism = ptr.To(int32(2))
			j.Spec.Completions = ptr.To(int32(2))
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
			}}}
		}))
		pods := waitPods(t, c, job, 2)
		finishPod(t, c, &pods[0], 42)
		job = waitJob(t, c, job, "Failed by the pod failure policy", func(j *batchv1.Job) bool {
			return hasCondition(j, batchv1.JobFailed, batchv1.JobReasonPodFailurePolicy)
		})
		want := fmt.Sprintf("Container c for pod %s/%s failed with exit code 42 matching FailJob rule at index 0", ns, pods[0].Name)
		if got := findCondition(job.Status.Conditions, batchv1.JobFailed).Message; got != want {
			t.Errorf("Failed message %q, want %q", got, want)
		}
		// The other pod was deleted and, like the failed one, counted as failed.
		if job.Status.Failed != 2 || job.Status.Active != 0 {
			t.Errorf("failed %d, active %d; want 2, 0", job.Status.Failed, job.Status.Active)
		}
		ctrltest.Eventually(t, timeout, "the job's other pod deleted", func(ctx context.Context) (bool, error) {
			for _, p := range jobPods(t, c, job) {
				if p.UID == pods[1].UID {
					return false, nil
				}
			}
			return true, nil
		})
	})

	t.Run("a pod failure policy Ignore rule on DisruptionTarget does not count the failure", func(t *testing.T) {
		ns := c.Namespace(t)
		job := createJob(t, c, newJob(ns, "disrupted", func(j *batchv1.Job) {
			j.Spec.BackoffLimit = ptr.To(int32(0))
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:          batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
			}}}
		}))
		first := waitActivePod(t, c, job)
		evictPod(t, c, first)
		second := waitActivePod(t, c, job)
		if second.UID == first.UID {
			t.Fatalf("disrupted pod was not replaced")
		}
		finishPod(t, c, second, 0)
		job = waitJob(t, c, job, "Complete", func(j *batchv1.Job) bool { return hasCondition(j, batchv1.JobComplete, "") })
		if job.Status.Failed != 0 {
			t.Errorf("failed %d, want 0: an ignored failure does not count", job.Status.Failed)
		}
	})

	t.Run("a job active longer than activeDeadlineSeconds fails with DeadlineExceeded", func(t *testing.T) {
		ns := c.Namespace(t)
		job := createJob(t, c, newJob(ns, "deadline", func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To(int64(1)) }))
		// startTime has whole seconds, so the deadline may come at once: the pod is not waited for.
		job = waitJob(t, c, job, "Failed with DeadlineExceeded", func(j *batchv1.Job) bool {
			return hasCondition(j, batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded)
		})
		if job.Status.Active != 0 || job.Status.Failed != 1 {
			t.Errorf("active %d, failed %d; want 0, 1 (the running pod, deleted)", job.Status.Active, job.Status.Failed)
		}
		ctrltest.Eventually(t, timeout, "the job's pod deleted", func(ctx context.Context) (bool, error) {
			return len(jobPods(t, c, job)) == 0, nil
		})
		waitEvent(t, c, job, corev1.EventTypeWarning, batchv1.JobReasonDeadlineExceeded, msgDeadlineExceeded)
	})

	t.Run("deleting a job releases the tracking finalizers of its pods", func(t *testing.T) {
		ns := c.Namespace(t)
		job := createJob(t, c, newJob(ns, "deleted", func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To(int32(2)) }))
		pods := waitPods(t, c, job, 1)
		if !hasTrackingFinalizer(&pods[0]) {
			t.Fatalf("active pod %s has no tracking finalizer", pods[0].Name)
		}
		// Orphan, so that the pods stay (no garbage collector runs here anyway).
		if err := c.Client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationOrphan)); err != nil {
			t.Fatal(err)
		}
		ctrltest.Eventually(t, timeout, "finalizers of the deleted job's pods removed", func(ctx context.Context) (bool, error) {
			for _, p := range jobPods(t, c, job) {
				if hasTrackingFinalizer(&p) {
					return false, nil
				}
			}
			return true, nil
		})
	})

	t.Run("an orphan pod matching a job's selector is adopted and counted", func(t *testing.T) {
		ns := c.Namespace(t)
		labels := map[string]string{"app": "adopter"}
		orphan := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orphan", Labels: labels},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
		if err := c.Client.Create(ctx, orphan); err != nil {
			t.Fatal(err)
		}
		job := createJob(t, c, newJob(ns, "adopter", func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
			j.Spec.Template.Labels = labels
		}))
		var adopted corev1.Pod
		ctrltest.Eventually(t, timeout, "orphan adopted", func(ctx context.Context) (bool, error) {
			if err := c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orphan"}, &adopted); err != nil {
				return false, err
			}
			ref := metav1.GetControllerOf(&adopted)
			return ref != nil && ref.UID == job.UID && hasTrackingFinalizer(&adopted), nil
		})
		waitJob(t, c, job, "counting the adopted pod as active", func(j *batchv1.Job) bool { return j.Status.Active == 1 })
		finishPod(t, c, &adopted, 0)
		waitJob(t, c, job, "Complete", func(j *batchv1.Job) bool { return hasCondition(j, batchv1.JobComplete, "") })
		var pods corev1.PodList
		if err := c.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != 1 {
			t.Errorf("namespace has %d pods, want only the adopted one", len(pods.Items))
		}
	})
}

func newJob(ns, name string, mutate func(*batchv1.Job)) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"true"}}},
				},
			},
		},
	}
	if mutate != nil {
		mutate(job)
	}
	return job
}

func createJob(t *testing.T, c *ctrltest.Cluster, job *batchv1.Job) *batchv1.Job {
	t.Helper()
	if err := c.Client.Create(context.Background(), job); err != nil {
		t.Fatalf("create job: %v", err)
	}
	return job
}

// jobPods lists the pods of a job by its controller-uid label.
func jobPods(t *testing.T, c *ctrltest.Cluster, job *batchv1.Job) []corev1.Pod {
	t.Helper()
	pods, err := c.Clientset.CoreV1().Pods(job.Namespace).List(context.Background(),
		metav1.ListOptions{LabelSelector: batchv1.ControllerUidLabel + "=" + string(job.UID)})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	return pods.Items
}

func activeOf(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if isActive(&p) {
			out = append(out, p)
		}
	}
	return out
}

// waitPods waits until the job has exactly n active pods and returns them.
func waitPods(t *testing.T, c *ctrltest.Cluster, job *batchv1.Job, n int) []corev1.Pod {
	t.Helper()
	var active []corev1.Pod
	ctrltest.Eventually(t, timeout, fmt.Sprintf("%d active pods", n), func(ctx context.Context) (bool, error) {
		active = activeOf(jobPods(t, c, job))
		return len(active) == n, nil
	})
	return active
}

// waitActivePod waits for an active pod of the job and returns the oldest.
func waitActivePod(t *testing.T, c *ctrltest.Cluster, job *batchv1.Job) *corev1.Pod {
	t.Helper()
	var active []corev1.Pod
	ctrltest.Eventually(t, timeout, "an active pod", func(ctx context.Context) (bool, error) {
		active = activeOf(jobPods(t, c, job))
		return len(active) > 0, nil
	})
	return &active[0]
}

func waitJob(t *testing.T, c *ctrltest.Cluster, job *batchv1.Job, what string, cond func(*batchv1.Job) bool) *batchv1.Job {
	t.Helper()
	var got batchv1.Job
	ctrltest.Eventually(t, timeout, "job "+what, func(ctx context.Context) (bool, error) {
		if err := c.Client.Get(ctx, types.NamespacedName{Namespace: job.Namespace, Name: job.Name}, &got); err != nil {
			return false, err
		}
		return cond(&got), nil
	})
	return &got
}

func hasCondition(job *batchv1.Job, t batchv1.JobConditionType, reason string) bool {
	c := trueCondition(job, t)
	return c != nil && (reason == "" || c.Reason == reason)
}

// finishPod ends a pod as its node would, retrying on conflicts with the controller's own writes.
func finishPod(t *testing.T, c *ctrltest.Cluster, pod *corev1.Pod, exitCode int32) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fresh, err := c.Clientset.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return c.SetPodFinished(fresh, exitCode)
	})
	if err != nil {
		t.Fatalf("finish pod %s: %v", pod.Name, err)
	}
}

// evictPod fails a pod the way a disruption (eviction, preemption) does: Failed with the
// DisruptionTarget condition and no exit code of its own.
func evictPod(t *testing.T, c *ctrltest.Cluster, pod *corev1.Pod) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fresh, err := c.Clientset.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		fresh.Status.Phase = corev1.PodFailed
		fresh.Status.Conditions = append(fresh.Status.Conditions, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI", LastTransitionTime: now})
		_, err = c.Clientset.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), fresh, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("evict pod %s: %v", pod.Name, err)
	}
}

func setSuspend(t *testing.T, c *ctrltest.Cluster, job *batchv1.Job, suspend bool) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"suspend":%t}}`, suspend)
	if _, err := c.Clientset.BatchV1().Jobs(job.Namespace).Patch(context.Background(), job.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("set suspend=%t: %v", suspend, err)
	}
}

// checkPodOfJob checks what every pod of a Job carries: the controller reference, the Job's labels
// and, while it runs, the tracking finalizer.
func checkPodOfJob(t *testing.T, pod *corev1.Pod, job *batchv1.Job) {
	t.Helper()
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.UID != job.UID || ref.Kind != "Job" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Errorf("pod %s: controller reference %+v, want the job with blockOwnerDeletion", pod.Name, ref)
	}
	for k, v := range map[string]string{
		batchv1.ControllerUidLabel: string(job.UID), "controller-uid": string(job.UID),
		batchv1.JobNameLabel: job.Name, "job-name": job.Name,
	} {
		if pod.Labels[k] != v {
			t.Errorf("pod %s: label %s=%q, want %q", pod.Name, k, pod.Labels[k], v)
		}
	}
	if !hasTrackingFinalizer(pod) {
		t.Errorf("active pod %s has no %s finalizer", pod.Name, batchv1.JobTrackingFinalizer)
	}
	if !strings.HasPrefix(pod.Name, job.Name+"-") {
		t.Errorf("pod %s: name should start with %q", pod.Name, job.Name+"-")
	}
}

func waitEvent(t *testing.T, c *ctrltest.Cluster, job *batchv1.Job, eventType, reason, message string) {
	t.Helper()
	ctrltest.Eventually(t, timeout, fmt.Sprintf("event %s %q", reason, message), func(ctx context.Context) (bool, error) {
		events, err := c.Clientset.CoreV1().Events(job.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.UID == job.UID && e.Type == eventType && e.Reason == reason && e.Message == message {
				return true, nil
			}
		}
		return false, nil
	})
}

// watchMaxActivePods watches the pods of ns and returns a function telling the most that were active
// (neither finished nor being deleted) at any one time.
func watchMaxActivePods(t *testing.T, c *ctrltest.Cluster, ns string) func() int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.Clientset.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		t.Fatalf("watch pods: %v", err)
	}
	var mu sync.Mutex
	most := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		active := map[types.UID]bool{}
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted || !isActive(pod) {
				delete(active, pod.UID)
			} else {
				active[pod.UID] = true
			}
			mu.Lock()
			most = max(most, len(active))
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		w.Stop()
		cancel()
		<-done
	})
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return most
	}
}
