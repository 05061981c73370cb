package printers

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	appsv1beta1 "k8s.io/api/apps/v1beta1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
)

// The descriptions of the workload columns are those kube-apiserver takes from the older API
// versions' documentation.

func deploymentTable() rowBuilder {
	c := newColumns()
	status := extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()
	return &printer[*appsv1.Deployment]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Ready", "string", "Number of the pod with ready state"),
			col("Up-to-date", "string", status["updatedReplicas"]),
			col("Available", "string", status["availableReplicas"]),
			c.age(),
			wide("Containers", "string", containersDescription),
			wide("Images", "string", imagesDescription),
			wide("Selector", "string", extensionsv1beta1.DeploymentSpec{}.SwaggerDoc()["selector"]),
		},
		cells: func(d *appsv1.Deployment, now time.Time) []any {
			selector := "<invalid>"
			if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
				selector = s.String()
			}
			names, images := containerCells(d.Spec.Template.Spec.Containers)
			return []any{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, int32Value(d.Spec.Replicas)), int64(d.Status.UpdatedReplicas),
				int64(d.Status.AvailableReplicas), since(d.CreationTimestamp, now), names, images, selector}
		},
	}
}

func replicaSetTable() rowBuilder {
	c := newColumns()
	spec, status := extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc(), extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()
	return &printer[*appsv1.ReplicaSet]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Desired", "integer", spec["replicas"]),
			col("Current", "integer", status["replicas"]),
			col("Ready", "integer", status["readyReplicas"]),
			c.age(),
			wide("Containers", "string", containersDescription),
			wide("Images", "string", imagesDescription),
			wide("Selector", "string", spec["selector"]),
		},
		cells: func(rs *appsv1.ReplicaSet, now time.Time) []any {
			names, images := containerCells(rs.Spec.Template.Spec.Containers)
			return []any{rs.Name, int64(int32Value(rs.Spec.Replicas)), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
				since(rs.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(rs.Spec.Selector)}
		},
	}
}

func statefulSetTable() rowBuilder {
	c := newColumns()
	return &printer[*appsv1.StatefulSet]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Ready", "string", "Number of the pod with ready state"),
			c.age(),
			wide("Containers", "string", containersDescription),
			wide("Images", "string", imagesDescription),
		},
		cells: func(s *appsv1.StatefulSet, now time.Time) []any {
			names, images := containerCells(s.Spec.Template.Spec.Containers)
			return []any{s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, int32Value(s.Spec.Replicas)), since(s.CreationTimestamp, now), names, images}
		},
	}
}

func daemonSetTable() rowBuilder {
	c := newColumns()
	status := extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()
	return &printer[*appsv1.DaemonSet]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Desired", "integer", status["desiredNumberScheduled"]),
			col("Current", "integer", status["currentNumberScheduled"]),
			col("Ready", "integer", status["numberReady"]),
			col("Up-to-date", "integer", status["updatedNumberScheduled"]),
			col("Available", "integer", status["numberAvailable"]),
			col("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
			c.age(),
			wide("Containers", "string", containersDescription),
			wide("Images", "string", imagesDescription),
			wide("Selector", "string", extensionsv1beta1.DaemonSetSpec{}.SwaggerDoc()["selector"]),
		},
		cells: func(ds *appsv1.DaemonSet, now time.Time) []any {
			names, images := containerCells(ds.Spec.Template.Spec.Containers)
			return []any{ds.Name, int64(ds.Status.DesiredNumberScheduled), int64(ds.Status.CurrentNumberScheduled), int64(ds.Status.NumberReady),
				int64(ds.Status.UpdatedNumberScheduled), int64(ds.Status.NumberAvailable), labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
				since(ds.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(ds.Spec.Selector)}
		},
	}
}

func controllerRevisionTable() rowBuilder {
	c := newColumns()
	return &printer[*appsv1.ControllerRevision]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Controller", "string", "Controller of the object"),
			col("Revision", "string", appsv1beta1.ControllerRevision{}.SwaggerDoc()["revision"]),
			c.age(),
		},
		cells: func(cr *appsv1.ControllerRevision, now time.Time) []any {
			controller := "<none>"
			if ref := metav1.GetControllerOf(cr); ref != nil {
				controller = ref.Name
				// A stored owner reference always parses: validation requires its version.
				if gv, err := schema.ParseGroupVersion(ref.APIVersion); err == nil {
					if gk := gv.WithKind(ref.Kind).GroupKind(); !gk.Empty() {
						controller = strings.ToLower(gk.String()) + "/" + ref.Name
					}
				}
			}
			return []any{cr.Name, controller, cr.Revision, since(cr.CreationTimestamp, now)}
		},
	}
}

func jobTable() rowBuilder {
	c := newColumns()
	return &printer[*batchv1.Job]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Status", "string", "Status of the job."),
			col("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
			col("Duration", "string", "Time required to complete the job."),
			c.age(),
			wide("Containers", "string", containersDescription),
			wide("Images", "string", imagesDescription),
			wide("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]),
		},
		cells: func(job *batchv1.Job, now time.Time) []any {
			var completions string
			switch {
			case job.Spec.Completions != nil:
				completions = fmt.Sprintf("%d/%d", job.Status.Succeeded, *job.Spec.Completions)
			case int32Value(job.Spec.Parallelism) > 1:
				completions = fmt.Sprintf("%d/1 of %d", job.Status.Succeeded, *job.Spec.Parallelism)
			default:
				completions = fmt.Sprintf("%d/1", job.Status.Succeeded)
			}
			var took string
			switch {
			case job.Status.StartTime == nil:
			case job.Status.CompletionTime == nil:
				took = duration.HumanDuration(now.Sub(job.Status.StartTime.Time))
			default:
				took = duration.HumanDuration(job.Status.CompletionTime.Sub(job.Status.StartTime.Time))
			}
			names, images := containerCells(job.Spec.Template.Spec.Containers)
			return []any{job.Name, jobStatus(job), completions, took, since(job.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(job.Spec.Selector)}
		},
	}
}

// jobStatus is what a job came to, or where it stands.
func jobStatus(job *batchv1.Job) string {
	has := func(t batchv1.JobConditionType) bool {
		for _, c := range job.Status.Conditions {
			if c.Type == t {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	}
	switch {
	case has(batchv1.JobComplete):
		return "Complete"
	case has(batchv1.JobFailed):
		return "Failed"
	case job.DeletionTimestamp != nil:
		return "Terminating"
	case has(batchv1.JobSuspended):
		return "Suspended"
	case has(batchv1.JobFailureTarget):
		return "FailureTarget"
	case has(batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

func cronJobTable() rowBuilder {
	c := newColumns()
	spec, status := batchv1beta1.CronJobSpec{}.SwaggerDoc(), batchv1beta1.CronJobStatus{}.SwaggerDoc()
	return &printer[*batchv1.CronJob]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Schedule", "string", spec["schedule"]),
			col("Timezone", "string", spec["timeZone"]),
			col("Suspend", "boolean", spec["suspend"]),
			col("Active", "integer", status["active"]),
			col("Last Schedule", "string", status["lastScheduleTime"]),
			c.age(),
			wide("Containers", "string", containersDescription),
			wide("Images", "string", imagesDescription),
			wide("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]),
		},
		cells: func(cj *batchv1.CronJob, now time.Time) []any {
			last := "<none>"
			if cj.Status.LastScheduleTime != nil {
				last = since(*cj.Status.LastScheduleTime, now)
			}
			timeZone := "<none>"
			if cj.Spec.TimeZone != nil {
				timeZone = *cj.Spec.TimeZone
			}
			suspend := "<unset>"
			if cj.Spec.Suspend != nil {
				suspend = map[bool]string{true: "True", false: "False"}[*cj.Spec.Suspend]
			}
			job := cj.Spec.JobTemplate.Spec
			names, images := containerCells(job.Template.Spec.Containers)
			return []any{cj.Name, cj.Spec.Schedule, timeZone, suspend, int64(len(cj.Status.Active)), last, since(cj.CreationTimestamp, now),
				names, images, metav1.FormatLabelSelector(job.Selector)}
		},
	}
}

func hpaTable() rowBuilder {
	c := newColumns()
	spec := autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()
	return &printer[*autoscalingv2.HorizontalPodAutoscaler]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Reference", "string", spec["scaleTargetRef"]),
			col("Targets", "string", spec["metrics"]),
			col("MinPods", "string", spec["minReplicas"]),
			col("MaxPods", "string", spec["maxReplicas"]),
			col("Replicas", "string", autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()["currentReplicas"]),
			c.age(),
		},
		cells: func(hpa *autoscalingv2.HorizontalPodAutoscaler, now time.Time) []any {
			minPods := "<unset>"
			if hpa.Spec.MinReplicas != nil {
				minPods = fmt.Sprintf("%d", *hpa.Spec.MinReplicas)
			}
			ref := hpa.Spec.ScaleTargetRef.Kind + "/" + hpa.Spec.ScaleTargetRef.Name
			return []any{hpa.Name, ref, hpaTargets(hpa.Spec.Metrics, hpa.Status.CurrentMetrics), minPods, int64(hpa.Spec.MaxReplicas),
				int64(hpa.Status.CurrentReplicas), since(hpa.CreationTimestamp, now)}
		},
	}
}

// hpaTargets writes, for the first two metrics, where each stands against its target
// ("cpu: 40%/80%"), and how many more metrics there are. The status of a metric is the one at the
// same place in the status list.
func hpaTargets(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return "<none>"
	}
	status := func(i int) autoscalingv2.MetricStatus {
		if i < len(statuses) {
			return statuses[i]
		}
		return autoscalingv2.MetricStatus{}
	}
	list := make([]string, 0, len(specs))
	for i, spec := range specs {
		list = append(list, hpaTarget(spec, status(i)))
	}
	if len(list) > 2 {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:2], ", "), len(list)-2)
	}
	return strings.Join(list, ", ")
}

// hpaTarget is one metric against its target. A quantity the status leaves out prints as <nil>,
// as kube-apiserver prints it.
func hpaTarget(spec autoscalingv2.MetricSpec, status autoscalingv2.MetricStatus) string {
	switch {
	case spec.Type == autoscalingv2.ExternalMetricSourceType && spec.External != nil:
		var current *autoscalingv2.MetricValueStatus
		if status.External != nil {
			current = &status.External.Current
		}
		return valueOrAverage(spec.External.Target, current)
	case spec.Type == autoscalingv2.ObjectMetricSourceType && spec.Object != nil:
		var current *autoscalingv2.MetricValueStatus
		if status.Object != nil {
			current = &status.Object.Current
		}
		return valueOrAverage(spec.Object.Target, current)
	case spec.Type == autoscalingv2.PodsMetricSourceType && spec.Pods != nil:
		current := "<unknown>"
		if status.Pods != nil {
			current = status.Pods.Current.AverageValue.String()
		}
		return fmt.Sprintf("%s/%s", current, spec.Pods.Target.AverageValue.String())
	case spec.Type == autoscalingv2.ResourceMetricSourceType && spec.Resource != nil:
		var current *autoscalingv2.MetricValueStatus
		if status.Resource != nil {
			current = &status.Resource.Current
		}
		return resourceTarget(spec.Resource.Name, spec.Resource.Target, current)
	case spec.Type == autoscalingv2.ContainerResourceMetricSourceType && spec.ContainerResource != nil:
		var current *autoscalingv2.MetricValueStatus
		if status.ContainerResource != nil {
			current = &status.ContainerResource.Current
		}
		return resourceTarget(spec.ContainerResource.Name, spec.ContainerResource.Target, current)
	}
	return "<unknown type>"
}

// valueOrAverage is an object or external metric: its average value per pod, or its value.
func valueOrAverage(target autoscalingv2.MetricTarget, current *autoscalingv2.MetricValueStatus) string {
	now := "<unknown>"
	if target.AverageValue != nil {
		if current != nil && current.AverageValue != nil {
			now = current.AverageValue.String()
		}
		return fmt.Sprintf("%s/%s (avg)", now, target.AverageValue.String())
	}
	if current != nil {
		now = current.Value.String()
	}
	return fmt.Sprintf("%s/%s", now, target.Value.String())
}

// resourceTarget is a resource metric: an average value, or a utilization in percent.
func resourceTarget(name corev1.ResourceName, target autoscalingv2.MetricTarget, current *autoscalingv2.MetricValueStatus) string {
	now := "<unknown>"
	if target.AverageValue != nil {
		if current != nil {
			now = current.AverageValue.String()
		}
		return fmt.Sprintf("%s: %s/%s", name, now, target.AverageValue.String())
	}
	if current != nil && current.AverageUtilization != nil {
		now = fmt.Sprintf("%d%%", *current.AverageUtilization)
	}
	want := "<auto>"
	if target.AverageUtilization != nil {
		want = fmt.Sprintf("%d%%", *target.AverageUtilization)
	}
	return fmt.Sprintf("%s: %s/%s", name, now, want)
}

func pdbTable() rowBuilder {
	c := newColumns()
	return &printer[*policyv1.PodDisruptionBudget]{
		columns: []metav1.TableColumnDefinition{
			c.name(),
			col("Min Available", "string", "The minimum number of pods that must be available."),
			col("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
			col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
			c.age(),
		},
		cells: func(pdb *policyv1.PodDisruptionBudget, now time.Time) []any {
			minAvailable, maxUnavailable := "N/A", "N/A"
			if pdb.Spec.MinAvailable != nil {
				minAvailable = pdb.Spec.MinAvailable.String()
			}
			if pdb.Spec.MaxUnavailable != nil {
				maxUnavailable = pdb.Spec.MaxUnavailable.String()
			}
			return []any{pdb.Name, minAvailable, maxUnavailable, int64(pdb.Status.DisruptionsAllowed), since(pdb.CreationTimestamp, now)}
		},
	}
}
