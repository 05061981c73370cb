package ttlafterfinished

import (
	"context"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/skiffhq/skiff/controllers/internal/ctrltest"
	"github.com/skiffhq/skiff/controllers/job"
)

const timeout = 30 * time.Second

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestTimeLeft(t *testing.T) {
	finished := func(ttl *int32, condition batchv1.JobConditionType, at time.Time) *batchv1.Job {
		j := &batchv1.Job{Spec: batchv1.JobSpec{TTLSecondsAfterFinished: ttl}}
		if condition != "" {
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at.Add(-time.Hour))},
				{Type: condition, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)},
			}
		}
		return j
	}
	deleting := finished(ptr.To(int32(0)), batchv1.JobComplete, t0)
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
	cases := []struct {
		name        string
		job         *batchv1.Job
		now         time.Time
		wantLeft    time.Duration
		wantExpired bool
		wantErr     bool
	}{
		{"complete, TTL running", finished(ptr.To(int32(60)), batchv1.JobComplete, t0), t0.Add(20 * time.Second), 40 * time.Second, false, false},
		{"failed, TTL over", finished(ptr.To(int32(60)), batchv1.JobFailed, t0), t0.Add(60 * time.Second), 0, true, false},
		{"TTL 0 expires at once", finished(ptr.To(int32(0)), batchv1.JobComplete, t0), t0, 0, true, false},
		{"not finished", finished(ptr.To(int32(0)), "", t0), t0, 0, false, false},
		{"no TTL", finished(nil, batchv1.JobComplete, t0), t0.Add(time.Hour), 0, false, false},
		{"already being deleted", deleting, t0.Add(time.Hour), 0, false, false},
		{"finished in the future (clock skew) waits", finished(ptr.To(int32(10)), batchv1.JobComplete, t0.Add(time.Minute)), t0, 70 * time.Second, false, false},
		{"finished without a time", finished(ptr.To(int32(10)), batchv1.JobComplete, time.Time{}), t0, 0, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			left, expired, err := timeLeft(tc.job, tc.now)
			if left != tc.wantLeft || expired != tc.wantExpired || (err != nil) != tc.wantErr {
				t.Errorf("timeLeft = %v, %t, %v; want %v, %t, error %t", left, expired, err, tc.wantLeft, tc.wantExpired, tc.wantErr)
			}
		})
	}
}

// fakeClock is real time moved forward by what the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func TestTTLAfterFinished(t *testing.T) {
	clock := &fakeClock{}
	c := ctrltest.Start(t, func(mgr manager.Manager) error {
		if err := (&job.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("job-controller")}).SetupWithManager(mgr); err != nil {
			return err
		}
		return (&Reconciler{Client: mgr.GetClient(), Now: clock.Now}).SetupWithManager(mgr)
	})
	ctx := context.Background()

	runToCompletion := func(t *testing.T, ns, name string, ttl int32) *batchv1.Job {
		t.Helper()
		j := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: batchv1.JobSpec{
				TTLSecondsAfterFinished: ptr.To(ttl),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
			},
		}
		if err := c.Client.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
		var pods corev1.PodList
		ctrltest.Eventually(t, timeout, "the job's pod", func(ctx context.Context) (bool, error) {
			err := c.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{batchv1.ControllerUidLabel: string(j.UID)})
			return err == nil && len(pods.Items) == 1, err
		})
		if err := c.SetPodFinished(&pods.Items[0], 0); err != nil {
			t.Fatal(err)
		}
		ctrltest.Eventually(t, timeout, "job complete", func(ctx context.Context) (bool, error) {
			var got batchv1.Job
			if err := c.Client.Get(ctx, client.ObjectKeyFromObject(j), &got); err != nil {
				// A job with TTL 0 may be gone already.
				return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
			}
			_, done := finishTime(&got)
			return done, nil
		})
		return j
	}
	waitGone := func(t *testing.T, j *batchv1.Job) {
		t.Helper()
		ctrltest.Eventually(t, timeout, "job deleted", func(ctx context.Context) (bool, error) {
			err := c.Client.Get(ctx, client.ObjectKeyFromObject(j), &batchv1.Job{})
			return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
		})
	}

	t.Run("a finished job with TTL 0 is deleted at once", func(t *testing.T) {
		waitGone(t, runToCompletion(t, c.Namespace(t), "ttl-zero", 0))
	})

	t.Run("a finished job is deleted once its TTL has passed", func(t *testing.T) {
		j := runToCompletion(t, c.Namespace(t), "ttl-minute", 60)
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(j), &batchv1.Job{}); err != nil {
			t.Fatalf("job with a TTL of a minute gone before its time: %v", err)
		}
		clock.Advance(61 * time.Second)
		// Wake the reconciler, which otherwise looks again only after a real minute.
		patch := []byte(`{"metadata":{"annotations":{"test/poke":"1"}}}`)
		if err := c.Client.Patch(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: j.Namespace, Name: j.Name}},
			client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Fatal(err)
		}
		waitGone(t, j)
	})
}
