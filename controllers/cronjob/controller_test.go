package cronjob

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
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
)

const timeout = 30 * time.Second

// fakeClock is a clock that stands still until the test moves it. A cronjob's creationTimestamp
// comes from the real clock, so each subtest first sets the clock to real time: a clock left ahead by
// an earlier subtest would make every minute in between a missed schedule time of a new cronjob,
// and a clock that followed real time could cross a minute on its own.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// reset sets the clock to real time.
func (c *fakeClock) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = time.Now()
}

// advanceToNextMinute moves the clock just past the next minute and returns that minute.
func (c *fakeClock) advanceToNextMinute() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.now.Truncate(time.Minute).Add(time.Minute)
	c.now = next.Add(time.Second)
	return next
}

// cronTest is a running cronjob controller with a clock the test moves.
type cronTest struct {
	*ctrltest.Cluster
	clock *fakeClock
	pokes int
}

func TestCronJobController(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	c := &cronTest{clock: clock, Cluster: ctrltest.Start(t, func(mgr manager.Manager) error {
		return (&Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("cronjob-controller"), Now: clock.Now}).SetupWithManager(mgr)
	})}

	t.Run("a job is created at each schedule time", func(t *testing.T) {
		c.clock.reset()
		cj := c.createCronJob(t, "every-minute", batchv1.AllowConcurrent, nil)
		first := c.tick(t, cj)
		job := c.waitJob(t, cj, first)
		if got := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != first.UTC().Format(time.RFC3339) {
			t.Errorf("scheduled timestamp %q, want %q", got, first.UTC().Format(time.RFC3339))
		}
		if ref := metav1.GetControllerOf(job); ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob" {
			t.Errorf("job controller reference %+v, want the cronjob", ref)
		}
		if job.Labels["app"] != "every-minute" || job.Spec.Template.Spec.Containers[0].Image != "busybox" {
			t.Errorf("job labels %v, spec %+v: want the job template's", job.Labels, job.Spec)
		}
		c.waitEvent(t, cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job "+job.Name)
		got := c.waitCronJob(t, cj, "lastScheduleTime at the first time", func(cj *batchv1.CronJob) bool {
			return cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(first)
		})
		if activeNames(got) != job.Name {
			t.Errorf("active %v, want [%s]", activeNames(got), job.Name)
		}

		second := c.tick(t, cj)
		job2 := c.waitJob(t, cj, second)
		c.waitCronJob(t, cj, "both jobs active (Allow)", func(cj *batchv1.CronJob) bool {
			return activeNames(cj) == job.Name+","+job2.Name
		})
	})

	t.Run("Forbid skips a schedule time while a job is active, then starts the missed time", func(t *testing.T) {
		c.clock.reset()
		cj := c.createCronJob(t, "forbid", batchv1.ForbidConcurrent, nil)
		first := c.tick(t, cj)
		job := c.waitJob(t, cj, first)
		second := c.tick(t, cj)
		c.waitEvent(t, cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
		if jobs := c.jobs(t, cj); len(jobs) != 1 {
			t.Fatalf("%d jobs while the first is active, want 1", len(jobs))
		}
		completed := c.finishJob(t, job, batchv1.JobComplete, time.Now())
		c.waitEvent(t, cj, corev1.EventTypeNormal, "SawCompletedJob", fmt.Sprintf("Saw completed job: %s, status: Complete", job.Name))
		job2 := c.waitJob(t, cj, second)
		got := c.waitCronJob(t, cj, "only the new job active", func(cj *batchv1.CronJob) bool { return activeNames(cj) == job2.Name })
		if got.Status.LastSuccessfulTime == nil || !got.Status.LastSuccessfulTime.Equal(completed.Status.CompletionTime) {
			t.Errorf("lastSuccessfulTime %v, want the completion of %s (%v)", got.Status.LastSuccessfulTime, job.Name, completed.Status.CompletionTime)
		}
	})

	t.Run("Replace deletes the active job and starts a new one", func(t *testing.T) {
		c.clock.reset()
		cj := c.createCronJob(t, "replace", batchv1.ReplaceConcurrent, nil)
		job := c.waitJob(t, cj, c.tick(t, cj))
		job2 := c.waitJob(t, cj, c.tick(t, cj))
		c.waitEvent(t, cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job "+job.Name)
		ctrltest.Eventually(t, timeout, "only the new job left", func(ctx context.Context) (bool, error) {
			jobs := c.jobs(t, cj)
			return len(jobs) == 1 && jobs[0].Name == job2.Name, nil
		})
		c.waitCronJob(t, cj, "the new job active", func(cj *batchv1.CronJob) bool { return activeNames(cj) == job2.Name })
	})

	t.Run("history limits delete the oldest finished jobs", func(t *testing.T) {
		c.clock.reset()
		cj := c.createCronJob(t, "history", batchv1.AllowConcurrent, func(cj *batchv1.CronJob) {
			cj.Spec.SuccessfulJobsHistoryLimit = ptr.To(int32(1))
			cj.Spec.FailedJobsHistoryLimit = ptr.To(int32(1))
		})
		var jobs []*batchv1.Job
		for range 4 {
			jobs = append(jobs, c.waitJob(t, cj, c.tick(t, cj)))
		}
		start := time.Now().Add(-time.Hour)
		c.finishJob(t, jobs[0], batchv1.JobComplete, start)
		c.finishJob(t, jobs[1], batchv1.JobComplete, start.Add(time.Minute))
		c.finishJob(t, jobs[2], batchv1.JobFailed, start.Add(2*time.Minute))
		c.finishJob(t, jobs[3], batchv1.JobFailed, start.Add(3*time.Minute))
		c.poke(t, cj)
		want := []string{jobs[1].Name, jobs[3].Name}
		ctrltest.Eventually(t, timeout, fmt.Sprintf("only %v kept", want), func(ctx context.Context) (bool, error) {
			var names []string
			for _, j := range c.jobs(t, cj) {
				names = append(names, j.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, want) {
				return false, fmt.Errorf("jobs %v", names)
			}
			return true, nil
		})
		c.waitEvent(t, cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job "+jobs[0].Name)
		c.waitEvent(t, cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job "+jobs[2].Name)
		c.waitCronJob(t, cj, "no active job", func(cj *batchv1.CronJob) bool { return len(cj.Status.Active) == 0 })
	})

	t.Run("a suspended cronjob starts nothing", func(t *testing.T) {
		c.clock.reset()
		cj := c.createCronJob(t, "suspended", batchv1.AllowConcurrent, func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr.To(true) })
		missed := c.tick(t, cj)
		// A second cronjob, not suspended, proves the controller has looked at this moment.
		witness := c.createCronJob(t, "witness", batchv1.AllowConcurrent, nil)
		c.poke(t, witness)
		c.waitJob(t, witness, missed)
		if jobs := c.jobs(t, cj); len(jobs) != 0 {
			t.Fatalf("suspended cronjob made %d jobs", len(jobs))
		}
		patch := []byte(`{"spec":{"suspend":false}}`)
		if err := c.Client.Patch(context.Background(), cj, client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Fatal(err)
		}
		// Resumed, it starts the time it missed.
		c.waitJob(t, cj, missed)
	})
}

func (c *cronTest) createCronJob(t *testing.T, name string, policy batchv1.ConcurrencyPolicy, mutate func(*batchv1.CronJob)) *batchv1.CronJob {
	t.Helper()
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace(t), Name: name},
		Spec: batchv1.CronJobSpec{
			Schedule:          "* * * * *",
			ConcurrencyPolicy: policy,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				}}},
			},
		},
	}
	if mutate != nil {
		mutate(cj)
	}
	if err := c.Client.Create(context.Background(), cj); err != nil {
		t.Fatalf("create cronjob: %v", err)
	}
	return cj
}

// tick moves the clock past the next minute and wakes the cronjob; it returns that schedule time.
func (c *cronTest) tick(t *testing.T, cj *batchv1.CronJob) time.Time {
	t.Helper()
	at := c.clock.advanceToNextMinute()
	c.poke(t, cj)
	return at
}

// poke wakes the reconciler for the cronjob, which otherwise waits for the real next minute.
func (c *cronTest) poke(t *testing.T, cj *batchv1.CronJob) {
	t.Helper()
	c.pokes++
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{"test/poke":"%d"}}}`, c.pokes)
	target := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: cj.Namespace, Name: cj.Name}}
	if err := c.Client.Patch(context.Background(), target, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("poke cronjob: %v", err)
	}
}

func (c *cronTest) jobs(t *testing.T, cj *batchv1.CronJob) []batchv1.Job {
	t.Helper()
	var list batchv1.JobList
	if err := c.Client.List(context.Background(), &list, client.InNamespace(cj.Namespace)); err != nil {
		t.Fatalf("list jobs: %v", err)
	}
	var out []batchv1.Job
	for _, j := range list.Items {
		if ref := metav1.GetControllerOf(&j); ref != nil && ref.UID == cj.UID {
			out = append(out, j)
		}
	}
	return out
}

// waitJob waits for the cronjob's job of a schedule time.
func (c *cronTest) waitJob(t *testing.T, cj *batchv1.CronJob, scheduled time.Time) *batchv1.Job {
	t.Helper()
	name := fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
	var job batchv1.Job
	ctrltest.Eventually(t, timeout, "job "+name, func(ctx context.Context) (bool, error) {
		return true, c.Client.Get(ctx, types.NamespacedName{Namespace: cj.Namespace, Name: name}, &job)
	})
	return &job
}

func (c *cronTest) waitCronJob(t *testing.T, cj *batchv1.CronJob, what string, cond func(*batchv1.CronJob) bool) *batchv1.CronJob {
	t.Helper()
	var got batchv1.CronJob
	ctrltest.Eventually(t, timeout, "cronjob "+what, func(ctx context.Context) (bool, error) {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(cj), &got); err != nil {
			return false, err
		}
		return cond(&got), nil
	})
	return &got
}

// finishJob writes the status the job controller would for a finished job.
func (c *cronTest) finishJob(t *testing.T, job *batchv1.Job, condition batchv1.JobConditionType, start time.Time) *batchv1.Job {
	t.Helper()
	var fresh batchv1.Job
	if err := c.Client.Get(context.Background(), client.ObjectKeyFromObject(job), &fresh); err != nil {
		t.Fatal(err)
	}
	end := metav1.NewTime(start.Add(30 * time.Second).Truncate(time.Second))
	fresh.Status.StartTime = ptr.To(metav1.NewTime(start.Truncate(time.Second)))
	fresh.Status.Conditions = []batchv1.JobCondition{{Type: condition, Status: corev1.ConditionTrue, LastTransitionTime: end}}
	if condition == batchv1.JobComplete {
		fresh.Status.Succeeded = 1
		fresh.Status.CompletionTime = &end
	} else {
		fresh.Status.Failed = 1
	}
	if err := c.Client.Status().Update(context.Background(), &fresh); err != nil {
		t.Fatalf("finish job %s: %v", job.Name, err)
	}
	return &fresh
}

func (c *cronTest) waitEvent(t *testing.T, cj *batchv1.CronJob, eventType, reason, message string) {
	t.Helper()
	ctrltest.Eventually(t, timeout, fmt.Sprintf("event %s %q", reason, message), func(ctx context.Context) (bool, error) {
		events, err := c.Clientset.CoreV1().Events(cj.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.UID == cj.UID && e.Type == eventType && e.Reason == reason && e.Message == message {
				return true, nil
			}
		}
		return false, nil
	})
}

func activeNames(cj *batchv1.CronJob) string {
	var names []string
	for _, ref := range cj.Status.Active {
		names = append(names, ref.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}
