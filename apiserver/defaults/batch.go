package defaults

import (
	"math"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Legacy forms of the labels JobSelector sets, which upstream still sets beside the prefixed ones.
const (
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
)

// Job defaults a Job: one completion and parallelism 1 when neither is set, a backoff limit of 6 (no limit
// across indexes when a per-index limit is set), NonIndexed completion, not suspended, no manual selector,
// pod replacement once pods are terminated and failed (only failed under a pod failure policy), and the pod
// template. The selector comes later, from JobSelector.
func Job(obj *batchv1.Job) {
	spec := &obj.Spec
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = ptr.To(int32(1))
		spec.Parallelism = ptr.To(int32(1))
	}
	if spec.Parallelism == nil {
		spec.Parallelism = ptr.To(int32(1))
	}
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			spec.BackoffLimit = ptr.To(int32(math.MaxInt32))
		} else {
			spec.BackoffLimit = ptr.To(int32(6))
		}
	}
	// The Job shares the template's label map, as upstream: the labels JobSelector then adds to the template
	// show on the Job too, which is what clients see from kube-apiserver. (Copying the Job between the two
	// calls would lose that.)
	if labels := spec.Template.Labels; labels != nil && len(obj.Labels) == 0 {
		obj.Labels = labels
	}
	if spec.CompletionMode == nil {
		spec.CompletionMode = ptr.To(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = ptr.To(false)
	}
	if spec.PodReplacementPolicy == nil {
		if spec.PodFailurePolicy != nil {
			spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
		} else {
			spec.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed)
		}
	}
	if spec.ManualSelector == nil {
		spec.ManualSelector = ptr.To(false)
	}
	podFailurePolicy(spec.PodFailurePolicy)
	PodTemplateSpec(&spec.Template)
}

// podFailurePolicy defaults the status of every pod condition pattern to True.
func podFailurePolicy(p *batchv1.PodFailurePolicy) {
	if p == nil {
		return
	}
	for i := range p.Rules {
		patterns := p.Rules[i].OnPodConditions
		for j := range patterns {
			if patterns[j].Status == "" {
				patterns[j].Status = corev1.ConditionTrue
			}
		}
	}
}

// JobSelector gives a Job whose selector is not manual the selector upstream generates: its pods are
// labelled with the Job's UID and name (prefixed and legacy labels), and the selector matches the UID.
// Labels already in the template are kept, so a conflicting one fails validation. It must run once the
// UID is assigned; upstream runs it on create only (the selector is immutable after).
func JobSelector(job *batchv1.Job) {
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector {
		return
	}
	t := &job.Spec.Template
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	for _, key := range []string{legacyJobNameLabel, batchv1.JobNameLabel} {
		if _, ok := t.Labels[key]; !ok {
			t.Labels[key] = job.Name
		}
	}
	for _, key := range []string{legacyControllerUIDLabel, batchv1.ControllerUidLabel} {
		if _, ok := t.Labels[key]; !ok {
			t.Labels[key] = string(job.UID)
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(job.UID)
	}
	// Upstream defaults a Job's labels from its template again whenever it reads the Job back, by then
	// with these labels in the template.
	if len(job.Labels) == 0 {
		job.Labels = t.Labels
	}
}

// CronJob defaults a CronJob: concurrency Allow, not suspended, 3 successful and 1 failed finished Jobs
// kept, and the Job template's pod failure policy and pod template. The Job template's own fields are
// left for the Jobs made from it, as upstream.
func CronJob(obj *batchv1.CronJob) {
	spec := &obj.Spec
	if spec.ConcurrencyPolicy == "" {
		spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if spec.Suspend == nil {
		spec.Suspend = ptr.To(false)
	}
	if spec.SuccessfulJobsHistoryLimit == nil {
		spec.SuccessfulJobsHistoryLimit = ptr.To(int32(3))
	}
	if spec.FailedJobsHistoryLimit == nil {
		spec.FailedJobsHistoryLimit = ptr.To(int32(1))
	}
	podFailurePolicy(spec.JobTemplate.Spec.PodFailurePolicy)
	PodTemplateSpec(&spec.JobTemplate.Spec.Template)
}
