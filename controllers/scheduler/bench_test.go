package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// emptyLister is a cluster with no objects besides nodes and pods, answering at once, so that a
// benchmark measures placement alone (the manager's informer cache answers in well under a
// microsecond).
type emptyLister struct{}

func (emptyLister) pvc(_ context.Context, _, name string) (*corev1.PersistentVolumeClaim, error) {
	return nil, apierrors.NewNotFound(corev1.Resource("persistentvolumeclaims"), name)
}
func (emptyLister) pv(_ context.Context, name string) (*corev1.PersistentVolume, error) {
	return nil, apierrors.NewNotFound(corev1.Resource("persistentvolumes"), name)
}
func (emptyLister) storageClass(_ context.Context, name string) (*storagev1.StorageClass, error) {
	return nil, apierrors.NewNotFound(storagev1.Resource("storageclasses"), name)
}
func (emptyLister) pvs(context.Context) ([]*corev1.PersistentVolume, error) { return nil, nil }
func (emptyLister) namespaceLabels(context.Context, string) (labels.Set, error) {
	return labels.Set{}, nil
}
func (emptyLister) namespacesMatching(context.Context, labels.Selector) ([]string, error) {
	return nil, nil
}
func (emptyLister) spreadSelector(context.Context, *corev1.Pod) labels.Selector {
	return labels.Everything()
}

// benchmarkPlacement places b.N pods, one after the other, on nodes nodes spread over 10 zones that
// already run 5 pods each: for each, what the scheduling loop does without the API (derive the pod's
// info as the queue does, update the snapshot, filter, score, assume).
func benchmarkPlacement(b *testing.B, nodes int, makePod func(i int) *corev1.Pod) {
	cache := newSchedulerCache()
	for i := range nodes {
		n := node(fmt.Sprintf("node-%d", i), "1000", "4000Gi", corev1.LabelTopologyZone, fmt.Sprintf("zone-%d", i%10))
		n.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("10000")
		cache.addNode(n)
		for j := range 5 {
			cache.addPod(newPodInfo(on(pod(fmt.Sprintf("existing-%d-%d", i, j), "100m", "128Mi", "app", "existing"), n.Name)))
		}
	}
	a := newAlgorithm(0, rand.New(rand.NewPCG(1, 2)), newPVAssumptions())
	snap := newSnapshot()
	var c cycle
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		info := newPodInfo(makePod(i))
		cache.updateSnapshot(snap)
		c.reset(ctx, logr.Discard(), info, snap, emptyLister{})
		n, err := a.schedule(&c)
		if err != nil {
			b.Fatalf("pod %d: %v", i, err)
		}
		if err := cache.assumePod(info, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pods/s")
}

func benchPod(i int) *corev1.Pod {
	p := pod(fmt.Sprintf("pod-%d", i), "10m", "10Mi", "app", "bench")
	p.UID = types.UID(fmt.Sprintf("uid-%d", i))
	return p
}

// BenchmarkSchedule1000Nodes is the pure placement loop of the throughput budget (>= 1000 pods/s
// with 1000 nodes): small pods with requests and no constraints, like hack/bench's.
func BenchmarkSchedule1000Nodes(b *testing.B) {
	benchmarkPlacement(b, 1000, benchPod)
}

// BenchmarkSchedule1000NodesSpreadAndAntiAffinity places pods with a soft zone spread and a required
// anti-affinity per host to other pods of their group of 500, the costly plugins.
func BenchmarkSchedule1000NodesSpreadAndAntiAffinity(b *testing.B) {
	benchmarkPlacement(b, 1000, func(i int) *corev1.Pod {
		p := benchPod(i)
		group := fmt.Sprintf("g%d", i/500)
		p.Labels["group"] = group
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone,
			WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"group": group}}}}
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{
			podTerm("group", group, corev1.LabelHostname)}}}
		return p
	})
}
