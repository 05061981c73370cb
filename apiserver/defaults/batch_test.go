package defaults

import (
	"math"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestJobDefaults(t *testing.T) {
	defaulted := func(mutate func(*batchv1.JobSpec)) batchv1.JobSpec {
		spec := batchv1.JobSpec{
			Completions:          ptr.To(int32(1)),
			Parallelism:          ptr.To(int32(1)),
			BackoffLimit:         ptr.To(int32(6)),
			CompletionMode:       ptr.To(batchv1.NonIndexedCompletion),
			Suspend:              ptr.To(false),
			ManualSelector:       ptr.To(false),
			PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed),
			Template:             defaultedPodTemplate(),
		}
		if mutate != nil {
			mutate(&spec)
		}
		return spec
	}
	withTemplate := func(spec batchv1.JobSpec) batchv1.JobSpec {
		spec.Template = podTemplate()
		return spec
	}
	tests := []struct {
		name string
		in   batchv1.JobSpec
		want batchv1.JobSpec
	}{
		{
			name: "a bare job runs one pod to completion with 6 retries",
			in:   withTemplate(batchv1.JobSpec{}),
			want: defaulted(nil),
		},
		{
			name: "completions alone keep parallelism at 1",
			in:   withTemplate(batchv1.JobSpec{Completions: ptr.To(int32(5))}),
			want: defaulted(func(s *batchv1.JobSpec) { s.Completions = ptr.To(int32(5)) }),
		},
		{
			name: "parallelism alone leaves completions unset (a work queue)",
			in:   withTemplate(batchv1.JobSpec{Parallelism: ptr.To(int32(3))}),
			want: defaulted(func(s *batchv1.JobSpec) { s.Completions, s.Parallelism = nil, ptr.To(int32(3)) }),
		},
		{
			name: "a per-index backoff limit lifts the job-wide limit",
			in:   withTemplate(batchv1.JobSpec{BackoffLimitPerIndex: ptr.To(int32(1)), CompletionMode: ptr.To(batchv1.IndexedCompletion)}),
			want: defaulted(func(s *batchv1.JobSpec) {
				s.BackoffLimitPerIndex = ptr.To(int32(1))
				s.BackoffLimit = ptr.To(int32(math.MaxInt32))
				s.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			}),
		},
		{
			name: "a pod failure policy replaces pods only once failed, and its patterns match True conditions",
			in: withTemplate(batchv1.JobSpec{PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:          batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
			}}}}),
			want: defaulted(func(s *batchv1.JobSpec) {
				s.PodReplacementPolicy = ptr.To(batchv1.Failed)
				s.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
					Action:          batchv1.PodFailurePolicyActionIgnore,
					OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
				}}}
			}),
		},
		{
			name: "set values are kept",
			in: withTemplate(batchv1.JobSpec{
				Completions: ptr.To(int32(2)), Parallelism: ptr.To(int32(2)), BackoffLimit: ptr.To(int32(0)),
				CompletionMode: ptr.To(batchv1.IndexedCompletion), Suspend: ptr.To(true), ManualSelector: ptr.To(true),
				PodReplacementPolicy: ptr.To(batchv1.Failed),
			}),
			want: defaulted(func(s *batchv1.JobSpec) {
				s.Completions, s.Parallelism, s.BackoffLimit = ptr.To(int32(2)), ptr.To(int32(2)), ptr.To(int32(0))
				s.CompletionMode, s.Suspend, s.ManualSelector = ptr.To(batchv1.IndexedCompletion), ptr.To(true), ptr.To(true)
				s.PodReplacementPolicy = ptr.To(batchv1.Failed)
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, Job,
				&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"owner": "me"}}, Spec: tt.in},
				&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"owner": "me"}}, Spec: tt.want})
		})
	}
}

func TestJobSelector(t *testing.T) {
	const uid = "0d4a4b8e-1b7e-4c55-9d2a-1f1a3f6c9e11"
	generated := map[string]string{
		"controller-uid":                     uid,
		"batch.kubernetes.io/controller-uid": uid,
		"job-name":                           "pi",
		"batch.kubernetes.io/job-name":       "pi",
	}
	withApp := func(m map[string]string) map[string]string {
		out := map[string]string{"app": "pi"}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	newJob := func(templateLabels, jobLabels map[string]string, manual *bool) *batchv1.Job {
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: uid, Labels: jobLabels},
			Spec: batchv1.JobSpec{
				ManualSelector: manual,
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: templateLabels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "pi", Image: "perl"}}},
				},
			},
		}
		Job(job)
		return job
	}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": uid}}
	tests := []struct {
		name               string
		job                *batchv1.Job
		wantSelector       *metav1.LabelSelector
		wantTemplateLabels map[string]string
		wantJobLabels      map[string]string
	}{
		{
			name:               "a job without labels selects its pods by UID and shows the pod labels",
			job:                newJob(nil, nil, nil),
			wantSelector:       selector,
			wantTemplateLabels: generated,
			wantJobLabels:      generated,
		},
		{
			name:               "a job labelled from its template shows the generated labels too, as upstream",
			job:                newJob(map[string]string{"app": "pi"}, nil, nil),
			wantSelector:       selector,
			wantTemplateLabels: withApp(generated),
			wantJobLabels:      withApp(generated),
		},
		{
			name:               "a job with its own labels keeps them",
			job:                newJob(map[string]string{"app": "pi"}, map[string]string{"app": "pi"}, nil),
			wantSelector:       selector,
			wantTemplateLabels: withApp(generated),
			wantJobLabels:      map[string]string{"app": "pi"},
		},
		{
			name:               "labels already in the template are kept, for validation to judge",
			job:                newJob(map[string]string{"job-name": "other"}, map[string]string{"x": "y"}, ptr.To(false)),
			wantSelector:       selector,
			wantTemplateLabels: map[string]string{"controller-uid": uid, "batch.kubernetes.io/controller-uid": uid, "job-name": "other", "batch.kubernetes.io/job-name": "pi"},
			wantJobLabels:      map[string]string{"x": "y"},
		},
		{
			name:               "a manual selector is left alone",
			job:                newJob(map[string]string{"app": "pi"}, map[string]string{"app": "pi"}, ptr.To(true)),
			wantTemplateLabels: map[string]string{"app": "pi"},
			wantJobLabels:      map[string]string{"app": "pi"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			JobSelector(tt.job)
			if !equalJSON(t, tt.job.Spec.Selector, tt.wantSelector) {
				t.Errorf("selector = %s, want %s", toJSON(t, tt.job.Spec.Selector), toJSON(t, tt.wantSelector))
			}
			if !equalJSON(t, tt.job.Spec.Template.Labels, tt.wantTemplateLabels) {
				t.Errorf("template labels = %v, want %v", tt.job.Spec.Template.Labels, tt.wantTemplateLabels)
			}
			if !equalJSON(t, tt.job.Labels, tt.wantJobLabels) {
				t.Errorf("job labels = %v, want %v", tt.job.Labels, tt.wantJobLabels)
			}
		})
	}
}

// equalJSON compares what clients would see of two values.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	return toJSON(t, a) == toJSON(t, b)
}

func TestCronJobDefaults(t *testing.T) {
	t.Run("concurrent runs allowed, not suspended, 3 and 1 finished jobs kept, template defaulted", func(t *testing.T) {
		check(t, CronJob,
			&batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{
				Spec: batchv1.JobSpec{Template: podTemplate()},
			}}},
			&batchv1.CronJob{Spec: batchv1.CronJobSpec{
				Schedule:                   "*/5 * * * *",
				ConcurrencyPolicy:          batchv1.AllowConcurrent,
				Suspend:                    ptr.To(false),
				SuccessfulJobsHistoryLimit: ptr.To(int32(3)),
				FailedJobsHistoryLimit:     ptr.To(int32(1)),
				// The job template's own fields are left for the Jobs made from it.
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: defaultedPodTemplate()}},
			}})
	})
	t.Run("set values are kept", func(t *testing.T) {
		cj := &batchv1.CronJob{Spec: batchv1.CronJobSpec{
			ConcurrencyPolicy: batchv1.ForbidConcurrent, Suspend: ptr.To(true),
			SuccessfulJobsHistoryLimit: ptr.To(int32(0)), FailedJobsHistoryLimit: ptr.To(int32(5)),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: defaultedPodTemplate()}},
		}}
		check(t, CronJob, cj.DeepCopy(), cj)
	})
}
