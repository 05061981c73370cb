package namespace

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func TestDeletableResources(t *testing.T) {
	all := metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "watch"}
	lists := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Verbs: all},
			{Name: "pods/eviction", Verbs: metav1.Verbs{"create"}},
			{Name: "bindings", Verbs: metav1.Verbs{"create"}},
			{Name: "configmaps", Verbs: all},
		}},
		{GroupVersion: "a/b/c", APIResources: []metav1.APIResource{{Name: "broken", Verbs: all}}},
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{{Name: "widgets", Verbs: metav1.Verbs{"delete", "list"}}}},
		nil,
	}
	got, err := deletableResources(lists)
	want := []resource{
		{gvr: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, verbs: all},
		{gvr: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, verbs: all},
		{gvr: schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}, verbs: metav1.Verbs{"delete", "list"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("deletableResources() =\n%v\nwant\n%v", got, want)
	}
	if err == nil || err.Error() != "unexpected GroupVersion string: a/b/c" {
		t.Errorf("error = %v, want the unparsable group version", err)
	}
}

func TestRemaining(t *testing.T) {
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	item := func(finalizers ...string) metav1.PartialObjectMetadata {
		return metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Finalizers: finalizers}}
	}
	tests := []struct {
		name     string
		estimate int64
		items    []metav1.PartialObjectMetadata
		want     leftover
		wantErr  string
	}{
		{name: "nothing left is done", estimate: 30, want: leftover{}},
		{
			name:  "objects held by finalizers wait the finalizer estimate",
			items: []metav1.PartialObjectMetadata{item("a", "b"), item("a"), item()},
			want:  leftover{estimate: finalizerEstimateSeconds, count: 3, finalizers: map[string]int{"a": 2, "b": 1}},
		},
		{
			name:     "objects within their grace period keep the estimate",
			estimate: 20,
			items:    []metav1.PartialObjectMetadata{item(), item("a")},
			want:     leftover{estimate: 20, count: 2, finalizers: map[string]int{"a": 1}},
		},
		{
			name:    "objects left without reason are an error",
			items:   []metav1.PartialObjectMetadata{item()},
			want:    leftover{count: 1, finalizers: map[string]int{}},
			wantErr: "unexpected items still remain in namespace: ns for gvr: /v1, Resource=configmaps",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := remaining(gvr, "ns", tt.estimate, tt.items)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("remaining() = %+v, want %+v", got, tt.want)
			}
			if (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestPodsEstimate(t *testing.T) {
	deletedAt := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	pod := func(grace *int64, phase corev1.PodPhase) corev1.Pod {
		return corev1.Pod{Spec: corev1.PodSpec{TerminationGracePeriodSeconds: grace}, Status: corev1.PodStatus{Phase: phase}}
	}
	tests := []struct {
		name    string
		pods    []corev1.Pod
		elapsed time.Duration
		want    int64
	}{
		{name: "no pods", want: 0},
		{name: "the longest grace period of running pods", pods: []corev1.Pod{pod(ptr.To[int64](30), corev1.PodRunning),
			pod(ptr.To[int64](60), corev1.PodPending), pod(nil, corev1.PodRunning)}, elapsed: 10 * time.Second, want: 60},
		{name: "finished pods need no grace", pods: []corev1.Pod{pod(ptr.To[int64](30), corev1.PodRunning),
			pod(ptr.To[int64](90), corev1.PodSucceeded), pod(ptr.To[int64](90), corev1.PodFailed)}, want: 30},
		{name: "no estimate once the grace period has passed", pods: []corev1.Pod{pod(ptr.To[int64](30), corev1.PodRunning)},
			elapsed: 30 * time.Second, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := podsEstimate(tt.pods, deletedAt, deletedAt.Add(tt.elapsed)); got != tt.want {
				t.Errorf("podsEstimate() = %d, want %d", got, tt.want)
			}
		})
	}
}
