package batch

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestValidateCronJob(t *testing.T) {
	schedulePath := path("spec", "schedule")
	tzPath := path("spec", "timeZone")
	jobSpecPath := path("spec", "jobTemplate", "spec")
	cases := []struct {
		name   string
		mutate func(*batchv1.CronJob)
		want   field.ErrorList
	}{
		{"valid cronjob passes", func(*batchv1.CronJob) {}, nil},
		{"macros pass", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@hourly" }, nil},
		{"names, ranges and steps pass", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 9-17/2 * jan-jun MON-FRI" }, nil},
		{"explicit time zone passes", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Europe/Berlin") }, nil},
		{"schedule is required", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }, field.ErrorList{
			field.Required(schedulePath, ""),
		}},
		{"schedule needs five fields", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "* * * *" }, field.ErrorList{
			field.Invalid(schedulePath, nil, "expected exactly 5 fields, found 4"),
		}},
		{"schedule values must be in range", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 25 * * *" }, field.ErrorList{
			field.Invalid(schedulePath, nil, "end of range (25) above maximum (23)"),
		}},
		{"unknown macro is invalid", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@often" }, field.ErrorList{
			field.Invalid(schedulePath, nil, "unrecognized descriptor: @often"),
		}},
		{"TZ in the schedule is rejected", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 * * * *" }, field.ErrorList{
			field.Invalid(schedulePath, nil, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
		}},
		{"empty time zone is invalid", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("") }, field.ErrorList{
			field.Invalid(tzPath, nil, "timeZone must be nil or non-empty string"),
		}},
		{"Local is not an explicit time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Local") }, field.ErrorList{
			field.Invalid(tzPath, nil, "timeZone must be an explicit time zone"),
		}},
		{"unknown time zone is invalid", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus_Mons") }, field.ErrorList{
			field.Invalid(tzPath, nil, "unknown time zone"),
		}},
		{"time zone may not be a path", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("../../etc/passwd") }, field.ErrorList{
			field.Invalid(tzPath, nil, "unknown time zone ../../etc/passwd"),
		}},
		{"negative startingDeadlineSeconds is invalid", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](-1) }, field.ErrorList{
			field.Invalid(path("spec", "startingDeadlineSeconds"), nil, "must be greater than or equal to 0"),
		}},
		{"negative history limits are invalid", func(cj *batchv1.CronJob) {
			cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](-1)
			cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](-1)
		}, field.ErrorList{
			field.Invalid(path("spec", "successfulJobsHistoryLimit"), nil, ""),
			field.Invalid(path("spec", "failedJobsHistoryLimit"), nil, ""),
		}},
		{"concurrencyPolicy is required", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "" }, field.ErrorList{
			field.Required(path("spec", "concurrencyPolicy"), ""),
		}},
		{"unknown concurrencyPolicy is not supported", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Queue" }, field.ErrorList{
			field.NotSupported(path("spec", "concurrencyPolicy"), "Queue", []string{"Allow", "Forbid", "Replace"}),
		}},
		{"job template may not set a selector", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
			cj.Spec.JobTemplate.Spec.ManualSelector = ptr.To(true)
		}, field.ErrorList{
			field.Invalid(jobSpecPath.Child("selector"), nil, "`selector` will be auto-generated"),
			field.NotSupported(jobSpecPath.Child("manualSelector"), nil, []string{"nil", "false"}),
		}},
		{"job template rules apply", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
			cj.Spec.JobTemplate.Spec.BackoffLimit = ptr.To[int32](-1)
		}, field.ErrorList{
			field.Invalid(jobSpecPath.Child("backoffLimit"), nil, ""),
			field.Required(jobSpecPath.Child("template", "spec", "restartPolicy"), ""),
		}},
		{"job template labels are validated", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Labels = map[string]string{"team": "not valid!"}
		}, field.ErrorList{
			field.Invalid(path("spec", "jobTemplate", "metadata", "labels"), nil, ""),
		}},
		{"name is limited to 52 characters", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("n", 53) }, field.ErrorList{
			field.Invalid(path("metadata", "name"), nil, "must be no more than 52 characters"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cj := validCronJob()
			tc.mutate(cj)
			matcher.Test(t, tc.want, ValidateCronJob(cj))
		})
	}
}

func TestValidateCronJobUpdate(t *testing.T) {
	cases := []struct {
		name   string
		old    func(*batchv1.CronJob)
		mutate func(*batchv1.CronJob)
		want   field.ErrorList
	}{
		{"schedule change passes", nil, func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@daily"; cj.Spec.Suspend = ptr.To(true) }, nil},
		{"a long name from older rules is not re-checked", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("n", 60) }, func(cj *batchv1.CronJob) {
			cj.Spec.Schedule = "@daily"
		}, nil},
		{"TZ in the schedule is kept if it was there", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 * * * *" }, func(cj *batchv1.CronJob) {
			cj.Spec.Schedule = "CRON_TZ=UTC 30 * * * *"
		}, nil},
		{"TZ in the schedule conflicts with timeZone", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 * * * *" }, func(cj *batchv1.CronJob) {
			cj.Spec.TimeZone = ptr.To("UTC")
		}, field.ErrorList{
			field.Invalid(path("spec", "schedule"), nil, "cannot use both timeZone field and TZ or CRON_TZ in schedule"),
		}},
		{"TZ may not be added to the schedule", nil, func(cj *batchv1.CronJob) { cj.Spec.Schedule = "CRON_TZ=UTC 0 * * * *" }, field.ErrorList{
			field.Invalid(path("spec", "schedule"), nil, "use timeZone field instead"),
		}},
		{"an unchanged time zone is not re-checked", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus_Mons") }, func(cj *batchv1.CronJob) {
			cj.Spec.Schedule = "@daily"
		}, nil},
		{"a changed time zone is checked", nil, func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus_Mons") }, field.ErrorList{
			field.Invalid(path("spec", "timeZone"), nil, "unknown time zone"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validCronJob()
			if tc.old != nil {
				tc.old(old)
			}
			cj := old.DeepCopy()
			tc.mutate(cj)
			matcher.Test(t, tc.want, ValidateCronJobUpdate(cj, old))
		})
	}
}

func TestValidateCronJobStatusUpdate(t *testing.T) {
	old := validCronJob()
	cj := old.DeepCopy()
	cj.Status.LastScheduleTime = &t0
	matcher.Test(t, nil, ValidateCronJobStatusUpdate(cj, old))

	cj.ResourceVersion = ""
	matcher.Test(t, field.ErrorList{field.Invalid(path("metadata", "resourceVersion"), nil, "must be specified for an update")}, ValidateCronJobStatusUpdate(cj, old))
}
