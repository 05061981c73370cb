package cronjob

import (
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// t0 is a Saturday, on the hour.
var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func cronJob(schedule string, mutate func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cj", UID: "cj-uid", CreationTimestamp: metav1.NewTime(t0.Add(-10 * time.Minute))},
		Spec:       batchv1.CronJobSpec{Schedule: schedule, TimeZone: ptr.To("UTC")},
	}
	if mutate != nil {
		mutate(cj)
	}
	return cj
}

func lastScheduled(at time.Time) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(at)) }
}

func TestMostRecentScheduleTime(t *testing.T) {
	monday := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name         string
		cj           *batchv1.CronJob
		now          time.Time
		withDeadline bool
		wantEarliest time.Time
		wantLatest   *time.Time
		wantMissed   missed
		wantErr      bool
	}{
		{name: "created, first time not yet come", cj: cronJob("0 * * * *", nil), now: t0.Add(-5 * time.Minute),
			wantEarliest: t0.Add(-10 * time.Minute), wantMissed: noneMissed},
		{name: "first time just passed", cj: cronJob("0 * * * *", nil), now: t0.Add(time.Minute),
			wantEarliest: t0.Add(-10 * time.Minute), wantLatest: ptr.To(t0), wantMissed: noneMissed},
		{name: "descriptor @hourly", cj: cronJob("@hourly", nil), now: t0.Add(time.Minute),
			wantEarliest: t0.Add(-10 * time.Minute), wantLatest: ptr.To(t0), wantMissed: noneMissed},
		{name: "started at the last time, next not come", cj: cronJob("0 * * * *", lastScheduled(t0)), now: t0.Add(59 * time.Minute),
			wantEarliest: t0, wantMissed: noneMissed},
		{name: "several times missed: only the latest", cj: cronJob("0 * * * *", lastScheduled(t0)), now: t0.Add(2*time.Hour + 5*time.Minute),
			wantEarliest: t0, wantLatest: ptr.To(t0.Add(2 * time.Hour)), wantMissed: fewMissed},
		{name: "every minute", cj: cronJob("*/1 * * * *", lastScheduled(t0)), now: t0.Add(10*time.Minute + 30*time.Second),
			wantEarliest: t0, wantLatest: ptr.To(t0.Add(10 * time.Minute)), wantMissed: fewMissed},
		{name: "more than 100 missed", cj: cronJob("0 * * * *", lastScheduled(t0.Add(-200*time.Hour))), now: t0.Add(30 * time.Minute),
			wantEarliest: t0.Add(-200 * time.Hour), wantLatest: ptr.To(t0), wantMissed: manyMissed},
		{name: "times older than the starting deadline are not considered",
			cj: cronJob("0 * * * *", func(cj *batchv1.CronJob) {
				lastScheduled(t0.Add(-3 * time.Hour))(cj)
				cj.Spec.StartingDeadlineSeconds = ptr.To(int64(60))
			}),
			now: t0.Add(30 * time.Minute), withDeadline: true,
			wantEarliest: t0.Add(29 * time.Minute), wantMissed: noneMissed},
		{name: "the starting deadline counts only when asked",
			cj: cronJob("0 * * * *", func(cj *batchv1.CronJob) {
				lastScheduled(t0.Add(-3 * time.Hour))(cj)
				cj.Spec.StartingDeadlineSeconds = ptr.To(int64(60))
			}),
			now:          t0.Add(30 * time.Minute),
			wantEarliest: t0.Add(-3 * time.Hour), wantLatest: ptr.To(t0), wantMissed: fewMissed},
		{name: "a time within the starting deadline",
			cj: cronJob("0 * * * *", func(cj *batchv1.CronJob) {
				lastScheduled(t0.Add(-3 * time.Hour))(cj)
				cj.Spec.StartingDeadlineSeconds = ptr.To(int64(600))
			}),
			now: t0.Add(5 * time.Minute), withDeadline: true,
			wantEarliest: t0.Add(-5 * time.Minute), wantLatest: ptr.To(t0), wantMissed: noneMissed},
		{name: "irregular schedule over days", cj: cronJob("30 6-16/4 * * 1-5", lastScheduled(monday.Add(6*time.Hour+30*time.Minute))),
			now:          monday.Add(3*24*time.Hour + 12*time.Hour), // Thursday noon
			wantEarliest: monday.Add(6*time.Hour + 30*time.Minute), wantLatest: ptr.To(monday.Add(3*24*time.Hour + 10*time.Hour + 30*time.Minute)), wantMissed: fewMissed},
		{name: "weekdays across a weekend", cj: cronJob("0 9 * * 1-5", lastScheduled(monday.Add(-3*24*time.Hour+9*time.Hour))), // Friday 9:00
			now:          monday.Add(24*time.Hour + 10*time.Hour), // Tuesday 10:00
			wantEarliest: monday.Add(-3*24*time.Hour + 9*time.Hour), wantLatest: ptr.To(monday.Add(24*time.Hour + 9*time.Hour)), wantMissed: fewMissed},
		{name: "in the CronJob's time zone", cj: cronJob("0 9 * * *", func(cj *batchv1.CronJob) {
			cj.Spec.TimeZone = ptr.To("America/New_York")
			lastScheduled(t0.Add(-24 * time.Hour))(cj)
		}), now: t0.Add(5 * time.Hour), // 15:00 UTC is 10:00 in New York (EST)
			wantEarliest: t0.Add(-24 * time.Hour), wantLatest: ptr.To(t0.Add(4 * time.Hour)), wantMissed: fewMissed},
		{name: "a date that never comes", cj: cronJob("59 23 31 2 *", nil), now: t0,
			wantEarliest: t0.Add(-10 * time.Minute), wantMissed: noneMissed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sched, err := parseSchedule(tc.cj)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			earliest, latest, m, err := mostRecentScheduleTime(tc.cj, tc.now, sched, tc.withDeadline)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %t", err, tc.wantErr)
			}
			if !earliest.Equal(tc.wantEarliest) {
				t.Errorf("earliest %v, want %v", earliest, tc.wantEarliest)
			}
			switch {
			case (latest == nil) != (tc.wantLatest == nil):
				t.Errorf("latest %v, want %v", latest, tc.wantLatest)
			case latest != nil && !latest.Equal(*tc.wantLatest):
				t.Errorf("latest %v, want %v", latest.UTC(), tc.wantLatest.UTC())
			}
			if m != tc.wantMissed {
				t.Errorf("missed %d, want %d", m, tc.wantMissed)
			}
		})
	}
}

func TestNextScheduleTimeDuration(t *testing.T) {
	cases := []struct {
		name   string
		cj     *batchv1.CronJob
		now    time.Time
		want   time.Duration
		wantOK bool
	}{
		{"until the first time", cronJob("0 * * * *", nil), t0.Add(-5 * time.Minute), 5*time.Minute + nextScheduleDelta, true},
		{"after a started time, until the next", cronJob("0 * * * *", lastScheduled(t0)), t0.Add(20 * time.Minute), 40*time.Minute + nextScheduleDelta, true},
		{"after missed times, until the next from now", cronJob("0 * * * *", lastScheduled(t0)), t0.Add(2*time.Hour + 5*time.Minute), 55*time.Minute + nextScheduleDelta, true},
		{"never again", cronJob("59 23 31 2 *", nil), t0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sched, err := parseSchedule(tc.cj)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := nextScheduleTimeDuration(tc.cj, tc.now, sched)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("got %v, %t; want %v, %t", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestNextScheduleTimeIsDueOnlyOnce(t *testing.T) {
	cj := cronJob("*/5 * * * *", nil)
	sched, err := parseSchedule(cj)
	if err != nil {
		t.Fatal(err)
	}
	due, _, err := nextScheduleTime(cj, t0.Add(time.Minute), sched)
	if err != nil || due == nil || !due.Equal(t0) {
		t.Fatalf("due %v, %v; want %v", due, err, t0)
	}
	cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(*due))
	if due, _, _ := nextScheduleTime(cj, t0.Add(2*time.Minute), sched); due != nil {
		t.Errorf("due again at %v after being started", due)
	}
}

func TestScheduleSpec(t *testing.T) {
	cases := []struct {
		schedule string
		timeZone *string
		want     string
		prefix   bool
	}{
		{"0 * * * *", nil, "0 * * * *", false},
		{"0 * * * *", ptr.To("Europe/Berlin"), "TZ=Europe/Berlin 0 * * * *", false},
		{"0 * * * *", ptr.To("Not/AZone"), "0 * * * *", false},
		{"TZ=UTC 0 * * * *", nil, "TZ=UTC 0 * * * *", true},
		{"CRON_TZ=UTC 0 * * * *", ptr.To("Europe/Berlin"), "CRON_TZ=UTC 0 * * * *", true},
	}
	for _, tc := range cases {
		cj := &batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: tc.schedule, TimeZone: tc.timeZone}}
		got, prefix := scheduleSpec(cj)
		if got != tc.want || prefix != tc.prefix {
			t.Errorf("scheduleSpec(%q, %v) = %q, %t; want %q, %t", tc.schedule, ptr.Deref(tc.timeZone, ""), got, prefix, tc.want, tc.prefix)
		}
	}
	if _, err := parseSchedule(&batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: "61 * * * *"}}); err == nil {
		t.Errorf("an invalid schedule parsed")
	}
}

func TestJobFromTemplate(t *testing.T) {
	cj := cronJob("0 * * * *", func(cj *batchv1.CronJob) {
		cj.Spec.TimeZone = ptr.To("Europe/Berlin")
		cj.Spec.JobTemplate = batchv1.JobTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}, Annotations: map[string]string{"note": "y"}},
			Spec: batchv1.JobSpec{BackoffLimit: ptr.To(int32(2)), Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}},
		}
	})
	job, err := jobFromTemplate(cj, t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := "cj-29013720"; job.Name != want || job.Namespace != "ns" {
		t.Errorf("job %s/%s, want ns/%s (minutes since the epoch)", job.Namespace, job.Name, want)
	}
	if got := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2025-03-01T11:00:00+01:00" {
		t.Errorf("scheduled timestamp %q, want the time in Europe/Berlin", got)
	}
	if job.Labels["app"] != "x" || job.Annotations["note"] != "y" {
		t.Errorf("labels %v, annotations %v: want the template's", job.Labels, job.Annotations)
	}
	ref := metav1.GetControllerOf(job)
	if ref == nil || ref.Kind != "CronJob" || ref.UID != cj.UID || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Errorf("controller reference %+v", ref)
	}
	if ptr.Deref(job.Spec.BackoffLimit, 0) != 2 || job.Spec.Template.Spec.Containers[0].Image != "busybox" {
		t.Errorf("spec %+v: want the template's", job.Spec)
	}
	job.Labels["app"] = "changed"
	job.Spec.Template.Spec.Containers[0].Image = "changed"
	if cj.Spec.JobTemplate.Labels["app"] != "x" || cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image != "busybox" {
		t.Errorf("the job shares state with the cronjob's template")
	}

	cj.Spec.TimeZone = nil
	job, err = jobFromTemplate(cj, t0)
	if err != nil || job.Annotations[batchv1.CronJobScheduledTimestampAnnotation] != "2025-03-01T10:00:00Z" {
		t.Errorf("without a time zone: %v, %q; want UTC", err, job.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
	}
}

func TestCompareStartTimeOrdersOldestFirst(t *testing.T) {
	job := func(name string, start *time.Time) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if start != nil {
			j.Status.StartTime = ptr.To(metav1.NewTime(*start))
		}
		return j
	}
	jobs := []*batchv1.Job{
		job("never-started", nil),
		job("b-late", ptr.To(t0.Add(time.Hour))),
		job("c-early", ptr.To(t0)),
		job("a-early", ptr.To(t0)),
	}
	slices.SortStableFunc(jobs, compareStartTime)
	var names []string
	for _, j := range jobs {
		names = append(names, j.Name)
	}
	if want := []string{"a-early", "c-early", "b-late", "never-started"}; !slices.Equal(names, want) {
		t.Errorf("order %v, want %v", names, want)
	}
}
