package cronjob

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// nextScheduleDelta pads a requeue for the next schedule, so that a clock a little behind does not wake
// the controller just before the time.
const nextScheduleDelta = 100 * time.Millisecond

// tooManyMissed is how many missed schedules are too many to believe: a clock far off, or a controller
// down for long. The latest one still starts, with a warning.
const tooManyMissed = 100

// missed says how many schedules have passed since the last one a CronJob started.
type missed int

const (
	noneMissed missed = iota
	fewMissed
	manyMissed
)

// scheduleSpec is the schedule the cron parser reads: spec.schedule, in spec.timeZone if one is set.
// A schedule carrying its own TZ= or CRON_TZ= prefix (which validation refuses on new CronJobs) is
// used as it is, and reported by usesTZPrefix.
func scheduleSpec(cj *batchv1.CronJob) (spec string, usesTZPrefix bool) {
	if strings.Contains(cj.Spec.Schedule, "TZ") {
		return cj.Spec.Schedule, true
	}
	if cj.Spec.TimeZone != nil {
		if _, err := time.LoadLocation(*cj.Spec.TimeZone); err == nil {
			return fmt.Sprintf("TZ=%s %s", *cj.Spec.TimeZone, cj.Spec.Schedule), false
		}
	}
	return cj.Spec.Schedule, false
}

// parseSchedule parses a CronJob's schedule: five fields or a descriptor such as @hourly.
func parseSchedule(cj *batchv1.CronJob) (cron.Schedule, error) {
	spec, _ := scheduleSpec(cj)
	return cron.ParseStandard(spec)
}

// mostRecentScheduleTime looks at the schedule between the CronJob's last scheduled time (or its
// creation) and now. It returns that starting point, the latest schedule time not after now (nil if
// none), and how many schedule times have passed. With includeStartingDeadline, schedule times older
// than startingDeadlineSeconds are not considered at all. Schedules that can never repeat within a
// second (such as February 31st) are an error.
func mostRecentScheduleTime(cj *batchv1.CronJob, now time.Time, sched cron.Schedule, includeStartingDeadline bool) (time.Time, *time.Time, missed, error) {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if includeStartingDeadline && cj.Spec.StartingDeadlineSeconds != nil {
		if deadline := now.Add(-time.Duration(*cj.Spec.StartingDeadlineSeconds) * time.Second); deadline.After(earliest) {
			earliest = deadline
		}
	}
	first := sched.Next(earliest)
	second := sched.Next(first)
	if first.IsZero() || now.Before(first) {
		return earliest, nil, noneMissed, nil
	}
	if second.IsZero() || now.Before(second) {
		return earliest, &first, noneMissed, nil
	}
	interval := int64(second.Sub(first).Round(time.Second).Seconds())
	if interval < 1 {
		return earliest, nil, noneMissed, fmt.Errorf("time difference between two schedules is less than 1 second")
	}
	// Estimate how many schedule times passed from the interval between the first two, jump to just
	// before the last of them and let the schedule find the exact times from there: walking every
	// missed time could take long after a long outage. Irregular schedules (such as "30 6-16/4 * * 1-5")
	// are why the jump stops an interval short.
	count := int64(now.Sub(first).Seconds())/interval + 1
	var latest time.Time
	for t := sched.Next(first.Add(time.Duration((count-2)*interval) * time.Second)); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		latest = t
	}
	m := fewMissed
	if count > tooManyMissed {
		m = manyMissed
	}
	if latest.IsZero() {
		return earliest, nil, m, nil
	}
	return earliest, &latest, m, nil
}

// nextScheduleTime returns the schedule time a Job is due for now, if any: the latest one since the
// last scheduled, within the starting deadline.
func nextScheduleTime(cj *batchv1.CronJob, now time.Time, sched cron.Schedule) (*time.Time, missed, error) {
	_, latest, m, err := mostRecentScheduleTime(cj, now, sched, true)
	if latest == nil || latest.After(now) {
		return nil, m, err
	}
	return latest, m, err
}

// nextScheduleTimeDuration is how long from now until the CronJob's next schedule time; false if the
// schedule never comes again.
func nextScheduleTimeDuration(cj *batchv1.CronJob, now time.Time, sched cron.Schedule) (time.Duration, bool) {
	earliest, latest, m, err := mostRecentScheduleTime(cj, now, sched, false)
	from := now
	switch {
	case err != nil:
	case latest != nil:
		from = *latest
	case m == noneMissed:
		from = earliest
	}
	next := sched.Next(from)
	if next.IsZero() {
		return 0, false
	}
	return next.Add(nextScheduleDelta).Sub(now), true
}

// jobName is the name of the Job for a schedule time: the CronJob's name and the minutes since the
// epoch. Being deterministic, it keeps a schedule time from getting two Jobs.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

// jobFromTemplate makes the Job for a schedule time from the CronJob's job template, controlled by the
// CronJob and annotated with the schedule time in the CronJob's time zone.
func jobFromTemplate(cj *batchv1.CronJob, scheduled time.Time) (*batchv1.Job, error) {
	loc, err := time.LoadLocation(ptr.Deref(cj.Spec.TimeZone, ""))
	if err != nil {
		return nil, fmt.Errorf("time zone of cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	labels := map[string]string{}
	for k, v := range cj.Spec.JobTemplate.Labels {
		labels[k] = v
	}
	annotations := map[string]string{}
	for k, v := range cj.Spec.JobTemplate.Annotations {
		annotations[k] = v
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       cj.Namespace,
			Name:            jobName(cj, scheduled),
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, cronJobKind)},
		},
	}
	cj.Spec.JobTemplate.Spec.DeepCopyInto(&job.Spec)
	return job, nil
}

// finishedType returns Complete or Failed for a finished Job, "" otherwise.
func finishedType(job *batchv1.Job) batchv1.JobConditionType {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

// compareStartTime orders Jobs oldest first by start time (Jobs not started last), then by name.
func compareStartTime(a, b *batchv1.Job) int {
	sa, sb := a.Status.StartTime, b.Status.StartTime
	switch {
	case sa == nil && sb != nil:
		return 1
	case sa != nil && sb == nil:
		return -1
	case sa != nil && !sa.Equal(sb):
		if sa.Before(sb) {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Name, b.Name)
}

// jobRef is the reference to a Job that status.active holds.
func jobRef(job *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{
		Kind:            "Job",
		APIVersion:      batchv1.SchemeGroupVersion.String(),
		Namespace:       job.Namespace,
		Name:            job.Name,
		UID:             job.UID,
		ResourceVersion: job.ResourceVersion,
	}
}
