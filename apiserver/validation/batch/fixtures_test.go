package batch

import (
	_ "time/tzdata" // CronJob time zone tests must not depend on the host's zoneinfo

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var matcher = field.ErrorMatcher{}.ByType().ByField().ByDetailSubstring()

const jobUID = types.UID("0f3b5c1e-8a7d-4e2b-9c6f-1d2e3f4a5b6c")

func path(p string, more ...string) *field.Path { return field.NewPath(p, more...) }

// podTemplate is a defaulted pod template for run-to-completion pods.
func podTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			DNSPolicy:                     corev1.DNSClusterFirst,
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			SchedulerName:                 corev1.DefaultSchedulerName,
			SecurityContext:               &corev1.PodSecurityContext{},
			Containers: []corev1.Container{{
				Name:                     "main",
				Image:                    "busybox:1.36",
				Command:                  []string{"sh", "-c", "exit 0"},
				ImagePullPolicy:          corev1.PullIfNotPresent,
				TerminationMessagePath:   corev1.TerminationMessagePathDefault,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			}},
		},
	}
}

// validJob is a Job as it looks after defaulting and selector generation.
func validJob() *batchv1.Job {
	generated := map[string]string{
		batchv1.ControllerUidLabel: string(jobUID),
		batchv1.JobNameLabel:       "pi",
		"controller-uid":           string(jobUID),
		"job-name":                 "pi",
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: jobUID, ResourceVersion: "1"},
		Spec: batchv1.JobSpec{
			Parallelism:          ptr.To[int32](1),
			Completions:          ptr.To[int32](1),
			BackoffLimit:         ptr.To[int32](6),
			CompletionMode:       ptr.To(batchv1.NonIndexedCompletion),
			Suspend:              ptr.To(false),
			PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed),
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: string(jobUID)}},
			Template:             podTemplate(generated),
		},
	}
}

// validIndexedJob is an Indexed Job with a backoff limit per index.
func validIndexedJob() *batchv1.Job {
	j := validJob()
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	j.Spec.Completions = ptr.To[int32](10)
	j.Spec.Parallelism = ptr.To[int32](10)
	j.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
	return j
}

func validCronJob() *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "default", ResourceVersion: "1"},
		Spec: batchv1.CronJobSpec{
			Schedule:                   "*/5 * * * *",
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			Suspend:                    ptr.To(false),
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{
				Spec: batchv1.JobSpec{
					Parallelism:          ptr.To[int32](1),
					Completions:          ptr.To[int32](1),
					BackoffLimit:         ptr.To[int32](6),
					CompletionMode:       ptr.To(batchv1.NonIndexedCompletion),
					Suspend:              ptr.To(false),
					PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed),
					Template:             podTemplate(nil),
				},
			},
		},
	}
}
