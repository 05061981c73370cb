package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/testenv"
)

const ns = metav1.NamespaceDefault

var webLabels = map[string]string{"app": "web"}

func webTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: webLabels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
	}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: webLabels},
			Template: webTemplate(),
		},
	}
}

// waitFor polls cond until it holds; a condition that never holds fails the test when the wait ends.
func waitFor(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func TestStatusAndSpecAreWrittenOnlyThroughTheirOwnEndpoints(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	deployments := client.AppsV1().Deployments(ns)
	ctx := context.Background()

	d := deployment("web", 2)
	d.Status = appsv1.DeploymentStatus{Replicas: 5, ObservedGeneration: 9}
	created, err := deployments.Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Generation != 1 {
		t.Errorf("generation after create = %d, want 1", created.Generation)
	}
	if created.Status.Replicas != 0 || created.Status.ObservedGeneration != 0 {
		t.Errorf("status given at create was kept: %+v", created.Status)
	}

	for _, tc := range []struct {
		name       string
		write      func(d *appsv1.Deployment) (*appsv1.Deployment, error)
		specN      int32
		statusN    int32
		generation int64
	}{
		{
			name: "update of the deployment ignores status",
			write: func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
				d.Status.Replicas = 7
				return deployments.Update(ctx, d, metav1.UpdateOptions{})
			},
			specN: 2, statusN: 0, generation: 1,
		},
		{
			name: "update of status ignores spec",
			write: func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
				d.Status.Replicas, d.Status.ObservedGeneration = 3, 1
				d.Spec.Replicas = ptr.To(int32(9))
				return deployments.UpdateStatus(ctx, d, metav1.UpdateOptions{})
			},
			specN: 2, statusN: 3, generation: 1,
		},
		{
			name: "merge patch of status ignores spec",
			write: func(*appsv1.Deployment) (*appsv1.Deployment, error) {
				return deployments.Patch(ctx, "web", types.MergePatchType,
					[]byte(`{"spec":{"replicas":8},"status":{"replicas":4}}`), metav1.PatchOptions{}, "status")
			},
			specN: 2, statusN: 4, generation: 1,
		},
		{
			name: "merge patch of the deployment ignores status",
			write: func(*appsv1.Deployment) (*appsv1.Deployment, error) {
				return deployments.Patch(ctx, "web", types.MergePatchType,
					[]byte(`{"status":{"replicas":11}}`), metav1.PatchOptions{})
			},
			specN: 2, statusN: 4, generation: 1,
		},
		{
			name: "label change leaves the generation",
			write: func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
				d.Labels = map[string]string{"tier": "front"}
				return deployments.Update(ctx, d, metav1.UpdateOptions{})
			},
			specN: 2, statusN: 4, generation: 1,
		},
		{
			name: "spec change increments the generation",
			write: func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
				d.Spec.Replicas = ptr.To(int32(4))
				return deployments.Update(ctx, d, metav1.UpdateOptions{})
			},
			specN: 4, statusN: 4, generation: 2,
		},
		{
			name: "template change increments the generation",
			write: func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
				d.Spec.Template.Spec.Containers[0].Image = "registry.example/web:2"
				return deployments.Update(ctx, d, metav1.UpdateOptions{})
			},
			specN: 4, statusN: 4, generation: 3,
		},
		{
			name: "status update leaves the generation",
			write: func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
				d.Status.ObservedGeneration, d.Status.Replicas = 3, 4
				return deployments.UpdateStatus(ctx, d, metav1.UpdateOptions{})
			},
			specN: 4, statusN: 4, generation: 3,
		},
		{
			// Upstream counts annotation changes of a Deployment too: they are copied to its ReplicaSets.
			name: "annotation change of a deployment increments the generation",
			write: func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
				d.Annotations = map[string]string{"example.com/note": "rolled"}
				return deployments.Update(ctx, d, metav1.UpdateOptions{})
			},
			specN: 4, statusN: 4, generation: 4,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			current, err := deployments.Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			written, err := tc.write(current)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := deployments.Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for what, got := range map[string]*appsv1.Deployment{"response": written, "stored": stored} {
				if *got.Spec.Replicas != tc.specN || got.Status.Replicas != tc.statusN || got.Generation != tc.generation {
					t.Errorf("%s: spec.replicas %d status.replicas %d generation %d; want %d %d %d", what,
						*got.Spec.Replicas, got.Status.Replicas, got.Generation, tc.specN, tc.statusN, tc.generation)
				}
			}
		})
	}
}

// scalable is one resource with a /scale subresource; everything but creating one goes through the
// dynamic client, the same for every kind.
type scalable struct {
	gvr    schema.GroupVersionResource
	create func(ctx context.Context, client kubernetes.Interface, name string, replicas int32) error
}

// setStatusReplicas writes status.replicas through /status.
func (s scalable) setStatusReplicas(ctx context.Context, dyn dynamic.Interface, name string, n int32) error {
	o, err := dyn.Resource(s.gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if err := unstructured.SetNestedField(o.Object, int64(n), "status", "replicas"); err != nil {
		return err
	}
	_, err = dyn.Resource(s.gvr).Namespace(ns).UpdateStatus(ctx, o, metav1.UpdateOptions{})
	return err
}

func (s scalable) getScale(ctx context.Context, dyn dynamic.Interface, name string) (*autoscalingv1.Scale, error) {
	u, err := dyn.Resource(s.gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{}, "scale")
	if err != nil {
		return nil, err
	}
	return toScale(u)
}

func (s scalable) updateScale(ctx context.Context, dyn dynamic.Interface, scale *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(scale)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion("autoscaling/v1")
	u.SetKind("Scale")
	out, err := dyn.Resource(s.gvr).Namespace(ns).Update(ctx, u, metav1.UpdateOptions{}, "scale")
	if err != nil {
		return nil, err
	}
	return toScale(out)
}

// specReplicas reads spec.replicas and metadata.generation of the object.
func (s scalable) specReplicas(ctx context.Context, dyn dynamic.Interface, name string) (int32, int64, error) {
	o, err := dyn.Resource(s.gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, 0, err
	}
	n, _, err := unstructured.NestedInt64(o.Object, "spec", "replicas")
	return int32(n), o.GetGeneration(), err
}

func toScale(u *unstructured.Unstructured) (*autoscalingv1.Scale, error) {
	scale := &autoscalingv1.Scale{}
	return scale, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, scale)
}

func scalables() []scalable {
	return []scalable{
		{
			gvr: appsv1.SchemeGroupVersion.WithResource("deployments"),
			create: func(ctx context.Context, c kubernetes.Interface, name string, n int32) error {
				_, err := c.AppsV1().Deployments(ns).Create(ctx, deployment(name, n), metav1.CreateOptions{})
				return err
			},
		},
		{
			gvr: appsv1.SchemeGroupVersion.WithResource("replicasets"),
			create: func(ctx context.Context, c kubernetes.Interface, name string, n int32) error {
				_, err := c.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(n), Selector: &metav1.LabelSelector{MatchLabels: webLabels},
						Template: webTemplate()},
				}, metav1.CreateOptions{})
				return err
			},
		},
		{
			gvr: appsv1.SchemeGroupVersion.WithResource("statefulsets"),
			create: func(ctx context.Context, c kubernetes.Interface, name string, n int32) error {
				_, err := c.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(n), Selector: &metav1.LabelSelector{MatchLabels: webLabels},
						Template: webTemplate(), ServiceName: name},
				}, metav1.CreateOptions{})
				return err
			},
		},
		{
			gvr: corev1.SchemeGroupVersion.WithResource("replicationcontrollers"),
			create: func(ctx context.Context, c kubernetes.Interface, name string, n int32) error {
				tmpl := webTemplate()
				_, err := c.CoreV1().ReplicationControllers(ns).Create(ctx, &corev1.ReplicationController{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec:       corev1.ReplicationControllerSpec{Replicas: ptr.To(n), Selector: webLabels, Template: &tmpl},
				}, metav1.CreateOptions{})
				return err
			},
		},
	}
}

func TestScaleSubresourceReadsAndWritesReplicas(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	for _, s := range scalables() {
		t.Run(s.gvr.Resource, func(t *testing.T) {
			name := "scaled-" + s.gvr.Resource
			if err := s.create(ctx, client, name, 2); err != nil {
				t.Fatal(err)
			}
			if err := s.setStatusReplicas(ctx, dyn, name, 1); err != nil {
				t.Fatal(err)
			}

			scale, err := s.getScale(ctx, dyn, name)
			if err != nil {
				t.Fatal(err)
			}
			if scale.Name != name || scale.Namespace != ns || scale.Spec.Replicas != 2 ||
				scale.Status.Replicas != 1 || scale.Status.Selector != "app=web" {
				t.Errorf("GET scale = %s/%s spec %d status %d selector %q; want %s/%s 2 1 app=web",
					scale.Namespace, scale.Name, scale.Spec.Replicas, scale.Status.Replicas, scale.Status.Selector, ns, name)
			}
			if scale.Kind != "Scale" && scale.Kind != "" {
				t.Errorf("GET scale kind = %q", scale.Kind)
			}

			stale := scale.DeepCopy()
			scale.Spec.Replicas = 5
			updated, err := s.updateScale(ctx, dyn, scale)
			if err != nil {
				t.Fatalf("PUT scale: %v", err)
			}
			if updated.Spec.Replicas != 5 {
				t.Errorf("PUT scale answered spec.replicas %d, want 5", updated.Spec.Replicas)
			}
			if n, gen, err := s.specReplicas(ctx, dyn, name); err != nil || n != 5 || gen != 2 {
				t.Errorf("after PUT scale: spec.replicas %d generation %d (%v); want 5, 2", n, gen, err)
			}
			stale.Spec.Replicas = 6
			if _, err := s.updateScale(ctx, dyn, stale); !apierrors.IsConflict(err) {
				t.Errorf("PUT scale with an old resourceVersion = %v, want 409 Conflict", err)
			}
			if n, _, err := s.specReplicas(ctx, dyn, name); err != nil || n != 5 {
				t.Errorf("after a refused PUT scale: spec.replicas %d (%v), want 5", n, err)
			}

			patched, err := dyn.Resource(s.gvr).Namespace(ns).Patch(ctx, name, types.MergePatchType,
				[]byte(`{"spec":{"replicas":7}}`), metav1.PatchOptions{}, "scale")
			if err != nil {
				t.Fatalf("PATCH scale: %v", err)
			}
			if n, _, _ := unstructured.NestedInt64(patched.Object, "spec", "replicas"); n != 7 || patched.GetKind() != "Scale" {
				t.Errorf("PATCH scale answered %s with spec.replicas %d, want Scale with 7", patched.GetKind(), n)
			}
			if n, _, err := s.specReplicas(ctx, dyn, name); err != nil || n != 7 {
				t.Errorf("after PATCH scale: spec.replicas %d (%v), want 7", n, err)
			}

			scale, err = s.getScale(ctx, dyn, name)
			if err != nil {
				t.Fatal(err)
			}
			if scale.Status.Replicas != 1 {
				t.Errorf("scale changed status.replicas to %d", scale.Status.Replicas)
			}
			scale.Spec.Replicas = -1
			if _, err := s.updateScale(ctx, dyn, scale); !apierrors.IsInvalid(err) {
				t.Errorf("PUT scale with -1 replicas = %v, want 422 Invalid", err)
			}
			_, err = dyn.Resource(s.gvr).Namespace(ns).Patch(ctx, name, types.MergePatchType,
				[]byte(`{"spec":{"replicas":-3}}`), metav1.PatchOptions{}, "scale")
			if !apierrors.IsInvalid(err) {
				t.Errorf("PATCH scale with -3 replicas = %v, want 422 Invalid", err)
			}
			if n, _, err := s.specReplicas(ctx, dyn, name); err != nil || n != 7 {
				t.Errorf("after refused scales: spec.replicas %d (%v), want 7", n, err)
			}

			if _, err := s.getScale(ctx, dyn, "missing"); !apierrors.IsNotFound(err) {
				t.Errorf("GET scale of a missing object = %v, want 404", err)
			}
		})
	}
}

func TestEventsWrittenThroughOneEventsAPIAreReadThroughTheOther(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	now := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))

	newStyle := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "scheduled.1", Namespace: ns},
		EventTime:           now,
		ReportingController: "skiff.dev/scheduler",
		ReportingInstance:   "scheduler-1",
		Action:              "Binding",
		Reason:              "Scheduled",
		Type:                corev1.EventTypeNormal,
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "p1", APIVersion: "v1"},
		Note:                "Successfully assigned default/p1 to node-a",
	}
	if _, err := client.EventsV1().Events(ns).Create(ctx, newStyle, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create through events.k8s.io/v1: %v", err)
	}
	asCore, err := client.CoreV1().Events(ns).Get(ctx, "scheduled.1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read through core/v1: %v", err)
	}
	if asCore.Message != newStyle.Note || asCore.Reason != "Scheduled" || asCore.InvolvedObject.Name != "p1" ||
		asCore.InvolvedObject.Kind != "Pod" || asCore.ReportingController != "skiff.dev/scheduler" ||
		asCore.ReportingInstance != "scheduler-1" || asCore.Action != "Binding" || asCore.Type != corev1.EventTypeNormal {
		t.Errorf("core/v1 view of an events.k8s.io event: message %q reason %q involved %s/%s reporting %s/%s action %q type %q",
			asCore.Message, asCore.Reason, asCore.InvolvedObject.Kind, asCore.InvolvedObject.Name,
			asCore.ReportingController, asCore.ReportingInstance, asCore.Action, asCore.Type)
	}

	first := metav1.NewTime(time.Now().Truncate(time.Second))
	oldStyle := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "pulled.1", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "p2", APIVersion: "v1"},
		Reason:         "Pulled",
		Message:        "Container image already present on machine",
		Type:           corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-a"},
		FirstTimestamp: first,
		LastTimestamp:  first,
		Count:          3,
	}
	if _, err := client.CoreV1().Events(ns).Create(ctx, oldStyle, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create through core/v1: %v", err)
	}
	asNew, err := client.EventsV1().Events(ns).Get(ctx, "pulled.1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read through events.k8s.io/v1: %v", err)
	}
	if asNew.Note != oldStyle.Message || asNew.Reason != "Pulled" || asNew.Regarding.Name != "p2" ||
		asNew.DeprecatedSource.Component != "kubelet" || asNew.DeprecatedCount != 3 ||
		!asNew.DeprecatedFirstTimestamp.Equal(&first) {
		t.Errorf("events.k8s.io view of a core event: note %q reason %q regarding %s source %q count %d first %v",
			asNew.Note, asNew.Reason, asNew.Regarding.Name, asNew.DeprecatedSource.Component, asNew.DeprecatedCount,
			asNew.DeprecatedFirstTimestamp)
	}

	for api, list := range map[string]func() (runtime.Object, error){
		"core/v1":          func() (runtime.Object, error) { return client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}) },
		"events.k8s.io/v1": func() (runtime.Object, error) { return client.EventsV1().Events(ns).List(ctx, metav1.ListOptions{}) },
	} {
		l, err := list()
		if err != nil {
			t.Fatalf("list %s: %v", api, err)
		}
		var names []string
		if err := meta.EachListItem(l, func(o runtime.Object) error {
			m, err := meta.Accessor(o)
			if err == nil {
				names = append(names, m.GetName())
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(names, "scheduled.1") || !slices.Contains(names, "pulled.1") {
			t.Errorf("list through %s = %v, want both events", api, names)
		}
	}
}

func TestHPAWithTargetCPUIsReadAsAV2UtilizationMetric(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	target := autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}

	_, err := client.AutoscalingV1().HorizontalPodAutoscalers(ns).Create(ctx, &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: target, MinReplicas: ptr.To(int32(2)), MaxReplicas: 10,
			TargetCPUUtilizationPercentage: ptr.To(int32(60)),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v2.Spec.ScaleTargetRef.Kind != "Deployment" || v2.Spec.ScaleTargetRef.Name != "web" ||
		ptr.Deref(v2.Spec.MinReplicas, 0) != 2 || v2.Spec.MaxReplicas != 10 {
		t.Errorf("v2 spec = %+v", v2.Spec)
	}
	want := autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(60))},
		},
	}
	if len(v2.Spec.Metrics) != 1 || !metricEqual(v2.Spec.Metrics[0], want) {
		t.Errorf("v2 metrics = %s, want one cpu Utilization 60", mustJSON(v2.Spec.Metrics))
	}

	// And the other way: a v2 cpu utilization metric is v1's targetCPUUtilizationPercentage.
	_, err = client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "api"},
			MaxReplicas:    4,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(75))},
			}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v1, err := client.AutoscalingV1().HorizontalPodAutoscalers(ns).Get(ctx, "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(v1.Spec.TargetCPUUtilizationPercentage, 0); got != 75 {
		t.Errorf("v1 targetCPUUtilizationPercentage = %d, want 75", got)
	}
}

func metricEqual(a, b autoscalingv2.MetricSpec) bool { return mustJSON(a) == mustJSON(b) }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestCustomResourcesAreServedAndDiscovered(t *testing.T) {
	env := testenv.New(t)
	ext := apiextensionsclient.NewForConfigOrDie(env.Config)
	client := kubernetes.NewForConfigOrDie(env.Config)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	const group = "example.skiff.dev"
	gvr := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}

	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets." + group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget",
				ListKind: "WidgetList", ShortNames: []string{"wg"}},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"size": {Type: "integer", Minimum: ptr.To(1.0)},
						}},
					},
				}},
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
			}},
		},
	}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the CRD to be established", func(ctx context.Context) (bool, error) {
		got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})

	t.Run("dynamic client", func(t *testing.T) {
		widgets := dyn.Resource(gvr).Namespace(ns)
		w := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": group + "/v1", "kind": "Widget",
			"metadata": map[string]any{"name": "w1"},
			"spec":     map[string]any{"size": int64(3)},
		}}
		// The CRD's handler may take a moment to serve after Established.
		var created *unstructured.Unstructured
		waitFor(t, "the widget to be created", func(ctx context.Context) (bool, error) {
			var err error
			created, err = widgets.Create(ctx, w, metav1.CreateOptions{})
			return err == nil, ignoreNotFound(err)
		})
		if created.GetUID() == "" || created.GetResourceVersion() == "" {
			t.Errorf("created widget has no uid or resourceVersion: %v", created.Object)
		}
		got, err := widgets.Get(ctx, "w1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if size, _, _ := unstructured.NestedInt64(got.Object, "spec", "size"); size != 3 {
			t.Errorf("spec.size = %d, want 3", size)
		}
		bad := w.DeepCopy()
		bad.SetName("w2")
		_ = unstructured.SetNestedField(bad.Object, int64(0), "spec", "size")
		if _, err := widgets.Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
			t.Errorf("widget violating the schema = %v, want 422", err)
		}
		_ = unstructured.SetNestedField(got.Object, int64(5), "spec", "size")
		if _, err := widgets.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		list, err := widgets.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 || list.Items[0].GetName() != "w1" {
			t.Errorf("list = %d items", len(list.Items))
		}
		if err := widgets.Delete(ctx, "w1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := widgets.Get(ctx, "w1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("get after delete = %v, want 404", err)
		}
	})

	t.Run("aggregated discovery", func(t *testing.T) {
		waitFor(t, "widgets in discovery", func(ctx context.Context) (bool, error) {
			_, lists, err := client.Discovery().ServerGroupsAndResources()
			if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
				return false, err
			}
			for _, l := range lists {
				if l.GroupVersion != group+"/v1" {
					continue
				}
				for _, r := range l.APIResources {
					if r.Name == "widgets" && r.Kind == "Widget" && r.Namespaced && slices.Contains(r.ShortNames, "wg") {
						return true, nil
					}
				}
			}
			return false, nil
		})
	})

	t.Run("legacy /apis list", func(t *testing.T) {
		var groups []string
		waitFor(t, "the CRD group in /apis", func(ctx context.Context) (bool, error) {
			list, err := legacyGroups(ctx, client)
			if err != nil {
				return false, err
			}
			groups = list
			return slices.Contains(groups, group), nil
		})
		for _, want := range []string{"apiextensions.k8s.io", "apps", "events.k8s.io", group} {
			if !slices.Contains(groups, want) {
				t.Errorf("/apis lists %v, want %s among them", groups, want)
			}
		}
	})

	t.Run("group leaves discovery with its CRD", func(t *testing.T) {
		if err := ext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, crd.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the CRD group to leave /apis", func(ctx context.Context) (bool, error) {
			list, err := legacyGroups(ctx, client)
			if err != nil {
				return false, err
			}
			return !slices.Contains(list, group), nil
		})
	})
}

// legacyGroups reads the unaggregated /apis list, as a client without aggregated discovery asks for it.
func legacyGroups(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	var code int
	res := client.Discovery().RESTClient().Get().AbsPath("/apis").SetHeader("Accept", "application/json").Do(ctx)
	res.StatusCode(&code)
	body, err := res.Raw()
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET /apis: %d", code)
	}
	var list metav1.APIGroupList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, err
	}
	if list.Kind != "APIGroupList" {
		return nil, fmt.Errorf("GET /apis returned kind %q, want APIGroupList", list.Kind)
	}
	var names []string
	for _, g := range list.Groups {
		names = append(names, g.Name)
	}
	return names, nil
}

func ignoreNotFound(err error) error {
	var status apierrors.APIStatus
	if err == nil || apierrors.IsNotFound(err) || (errors.As(err, &status) && status.Status().Code == http.StatusNotFound) {
		return nil
	}
	return err
}

func TestEndpointSliceGenerationCountsEndpointChangesNotLabels(t *testing.T) {
	env := testenv.New(t)
	slices := kubernetes.NewForConfigOrDie(env.Config).DiscoveryV1().EndpointSlices(ns)
	ctx := context.Background()
	created, err := slices.Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-1"},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.5"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Labels = map[string]string{"extra": "label"}
	labelled, err := slices.Update(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	labelled.Endpoints = append(labelled.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.42.0.6"}})
	grown, err := slices.Update(ctx, labelled, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Generation != 1 || labelled.Generation != 1 || grown.Generation != 2 {
		t.Errorf("generations: created %d, after a label %d, after an endpoint %d; want 1, 1, 2",
			created.Generation, labelled.Generation, grown.Generation)
	}
}
