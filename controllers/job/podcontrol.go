package job

import (
	"context"
	"encoding/json"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podsForJob returns the pods the Job owns: those it controls and whose labels its selector still
// matches, plus orphans the selector matches, which it adopts (adding the tracking finalizer).
// Controlled pods the selector no longer matches are released.
func (r *Reconciler) podsForJob(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	var controlled corev1.PodList
	if err := r.Client.List(ctx, &controlled, client.InNamespace(job.Namespace), client.MatchingFields{podControllerUIDIndex: string(job.UID)}); err != nil {
		return nil, fmt.Errorf("list pods of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	var pods []*corev1.Pod
	for i := range controlled.Items {
		pod := &controlled.Items[i]
		if selector.Matches(labels.Set(pod.Labels)) {
			pods = append(pods, pod)
			continue
		}
		if job.DeletionTimestamp == nil {
			if err := r.releasePod(ctx, job, pod); err != nil {
				return nil, err
			}
		}
	}
	if job.DeletionTimestamp != nil || selector.Empty() {
		return pods, nil
	}
	var matching corev1.PodList
	if err := r.Client.List(ctx, &matching, client.InNamespace(job.Namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, fmt.Errorf("list pods matching job %s/%s: %w", job.Namespace, job.Name, err)
	}
	canAdopt := false
	for i := range matching.Items {
		pod := &matching.Items[i]
		if metav1.GetControllerOfNoCopy(pod) != nil || pod.DeletionTimestamp != nil {
			continue
		}
		if !canAdopt {
			// Adopt only for a Job that is really there and not being deleted: the cache may lag.
			if err := r.checkCanAdopt(ctx, job); err != nil {
				return nil, err
			}
			canAdopt = true
		}
		adopted, err := r.adoptPod(ctx, job, pod)
		if err != nil {
			return nil, err
		}
		if adopted {
			pods = append(pods, pod)
		}
	}
	return pods, nil
}

func (r *Reconciler) checkCanAdopt(ctx context.Context, job *batchv1.Job) error {
	var fresh batchv1.Job
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(job), &fresh); err != nil {
		return fmt.Errorf("recheck job %s/%s before adopting pods: %w", job.Namespace, job.Name, err)
	}
	if fresh.UID != job.UID {
		return fmt.Errorf("job %s/%s was replaced (uid %s, wanted %s): not adopting pods", job.Namespace, job.Name, fresh.UID, job.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("job %s/%s is being deleted: not adopting pods", job.Namespace, job.Name)
	}
	return nil
}

// adoptPod makes the Job the pod's controller and adds the tracking finalizer; it reports false when
// the pod is gone. On success pod holds the adopted pod.
func (r *Reconciler) adoptPod(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) (bool, error) {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(job, jobKind)},
			"finalizers":      []string{batchv1.JobTrackingFinalizer},
			// The UID makes the patch fail if the pod was replaced by another of the same name.
			"uid": pod.UID,
		},
	})
	if err != nil {
		return false, err
	}
	if err := r.Client.Patch(ctx, pod, client.RawPatch(types.StrategicMergePatchType, patch)); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("adopt pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return true, nil
}

// releasePod removes the Job's controller reference and the tracking finalizer from a pod.
func (r *Reconciler) releasePod(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"ownerReferences":                     []map[string]any{{"$patch": "delete", "uid": job.UID}},
			"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer},
			"uid":                                 pod.UID,
		},
	})
	if err != nil {
		return err
	}
	if err := r.Client.Patch(ctx, pod.DeepCopy(), client.RawPatch(types.StrategicMergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// patchOutTrackingFinalizer removes the finalizer batch.kubernetes.io/job-tracking from a pod that has it.
func patchOutTrackingFinalizer(ctx context.Context, c client.Client, pod *corev1.Pod) error {
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	patch := []byte(`{"metadata":{"$deleteFromPrimitiveList/finalizers":["` + batchv1.JobTrackingFinalizer + `"]}}`)
	target := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}}
	return c.Patch(ctx, target, client.RawPatch(types.StrategicMergePatchType, patch))
}

// removeTrackingFinalizer is patchOutTrackingFinalizer for which a pod already gone is done.
func removeTrackingFinalizer(ctx context.Context, c client.Client, pod *corev1.Pod) error {
	return client.IgnoreNotFound(patchOutTrackingFinalizer(ctx, c, pod))
}

// createPod creates a pod for the Job and records the event upstream does. The API error is returned
// as is, for the caller to look at its causes.
func (r *Reconciler) createPod(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) error {
	if err := r.Client.Create(ctx, pod); err != nil {
		r.Recorder.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return err
	}
	r.Recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", pod.Name)
	return nil
}

// deletePod deletes a pod of the Job and records the event upstream does; a pod already gone is not
// an error.
func (r *Reconciler) deletePod(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) error {
	target := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}}
	if err := r.Client.Delete(ctx, target); err != nil {
		if apierrors.IsNotFound(err) {
			return err
		}
		r.Recorder.Eventf(job, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	r.Recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", pod.Name)
	return nil
}
