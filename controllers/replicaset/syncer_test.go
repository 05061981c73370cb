package replicaset

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// laggingCache makes the pod lists a Syncer reads lag behind its writes while frozen, as a shared
// informer cache may: pods created meanwhile are not listed yet, pods deleted meanwhile still are.
type laggingCache struct {
	mu      sync.Mutex
	frozen  bool
	hidden  map[string]bool
	ghosts  []corev1.Pod
	failing func(n int) bool // which creations (1-based) fail
	creates atomic.Int32
}

func (l *laggingCache) freeze(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.frozen, l.hidden, l.ghosts = on, map[string]bool{}, nil
}

func (l *laggingCache) funcs() interceptor.Funcs {
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if pod, ok := obj.(*corev1.Pod); ok && l.failing != nil && l.failing(int(l.creates.Add(1))) {
				return fmt.Errorf("pods %q is forbidden: exceeded quota", pod.GenerateName)
			}
			if err := c.Create(ctx, obj, opts...); err != nil {
				return err
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.frozen {
				l.hidden[obj.GetName()] = true
			}
			return nil
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if pod, ok := obj.(*corev1.Pod); ok {
				l.mu.Lock()
				if l.frozen {
					l.ghosts = append(l.ghosts, *pod.DeepCopy())
				}
				l.mu.Unlock()
			}
			return c.Delete(ctx, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if err := c.List(ctx, list, opts...); err != nil {
				return err
			}
			pods, ok := list.(*corev1.PodList)
			if !ok {
				return nil
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			var kept []corev1.Pod
			for _, p := range pods.Items {
				if !l.hidden[p.Name] {
					kept = append(kept, p)
				}
			}
			o := &client.ListOptions{}
			o.ApplyOptions(opts)
			if o.FieldSelector != nil {
				if owner, ok := o.FieldSelector.RequiresExactMatch(PodIndex); ok && owner != noController {
					kept = append(kept, l.ghosts...)
				}
			}
			pods.Items = kept
			return nil
		},
	}
}

type syncerFixture struct {
	syncer *Syncer
	// api is what the API server holds, which the syncer's lagging cache may not show yet.
	api      client.Client
	cache    *laggingCache
	recorder *record.FakeRecorder
	rs       *appsv1.ReplicaSet
}

func newFixture(t *testing.T, replicas int32, pods int) *syncerFixture {
	t.Helper()
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "rs-uid", Generation: 1},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
			},
		},
	}
	kind := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	objs := []client.Object{rs}
	for i := range pods {
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("web-%d", i),
			UID: types.UID(fmt.Sprintf("pod-%d", i)), Labels: map[string]string{"app": "web"},
			CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(i) * time.Hour)),
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(rs, kind)}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	}
	cache := &laggingCache{hidden: map[string]bool{}}
	api := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objs...).
		WithIndex(&corev1.Pod{}, PodIndex, func(obj client.Object) []string {
			if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
				return []string{string(ref.UID)}
			}
			return []string{noController}
		}).Build()
	c := interceptor.NewClient(api, cache.funcs())
	recorder := record.NewFakeRecorder(2000)
	s := NewSyncer(SyncerOptions{Client: c, APIReader: api, Recorder: recorder, Kind: kind, PodIndex: PodIndex})
	return &syncerFixture{syncer: s, api: api, cache: cache, recorder: recorder, rs: rs}
}

func (f *syncerFixture) pods(t *testing.T) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := f.api.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// deliver hands the pod handler the events the informer would bring.
func (f *syncerFixture) deliver(created, deleted []corev1.Pod) {
	h := f.syncer.PodHandler(func(context.Context, *corev1.Pod) []reconcile.Request { return nil })
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	for i := range created {
		h.Create(context.Background(), event.CreateEvent{Object: &created[i]}, q)
	}
	for i := range deleted {
		h.Delete(context.Background(), event.DeleteEvent{Object: &deleted[i]}, q)
	}
}

func TestSyncOnALaggingCacheCreatesOnce(t *testing.T) {
	f := newFixture(t, 5, 0)
	ctx := context.Background()
	f.cache.freeze(true)
	if _, _, err := f.syncer.Sync(ctx, f.rs, f.rs); err != nil {
		t.Fatal(err)
	}
	if _, after, err := f.syncer.Sync(ctx, f.rs, f.rs); err != nil || after <= 0 {
		t.Fatalf("second sync: %v, next sync in %v (want one for the expectations' timeout)", err, after)
	}
	pods := f.pods(t)
	if len(pods) != 5 {
		t.Fatalf("%d pods after two syncs on a lagging cache, want 5", len(pods))
	}
	f.deliver(pods, nil)
	f.cache.freeze(false)
	status, _, err := f.syncer.Sync(ctx, f.rs, f.rs)
	if err != nil || len(f.pods(t)) != 5 || status.Replicas != 5 {
		t.Fatalf("after the cache caught up: %d pods, status %d, %v", len(f.pods(t)), status.Replicas, err)
	}
}

func TestSyncOnALaggingCacheDeletesOnce(t *testing.T) {
	f := newFixture(t, 2, 5)
	ctx := context.Background()
	before := f.pods(t)
	f.cache.freeze(true)
	status, _, err := f.syncer.Sync(ctx, f.rs, f.rs)
	if err != nil || status.Replicas != 2 {
		t.Fatalf("first sync: status %d, %v; want the deleted pods no longer counted", status.Replicas, err)
	}
	// The pods kept now rank before the deleted ones the cache still shows: a second deletion would
	// take them.
	for _, p := range f.pods(t) {
		p.Status.Phase = corev1.PodPending
		if err := f.api.Status().Update(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := f.syncer.Sync(ctx, f.rs, f.rs); err != nil {
		t.Fatal(err)
	}
	after := f.pods(t)
	if len(after) != 2 {
		t.Fatalf("%d pods after two syncs on a lagging cache, want 2", len(after))
	}
	left := map[string]bool{}
	for _, p := range after {
		left[p.Name] = true
	}
	var gone []corev1.Pod
	for _, p := range before {
		if !left[p.Name] {
			gone = append(gone, p)
		}
	}
	f.deliver(nil, gone)
	f.cache.freeze(false)
	if status, _, err := f.syncer.Sync(ctx, f.rs, f.rs); err != nil || len(f.pods(t)) != 2 || status.Replicas != 2 {
		t.Fatalf("after the cache caught up: %d pods, status %d, %v", len(f.pods(t)), status.Replicas, err)
	}
}

func TestSyncCreatesAtMostBurstReplicas(t *testing.T) {
	f := newFixture(t, 600, 0)
	if _, _, err := f.syncer.Sync(context.Background(), f.rs, f.rs); err != nil {
		t.Fatal(err)
	}
	if n := len(f.pods(t)); n != DefaultBurstReplicas {
		t.Fatalf("%d pods created in one sync, want %d", n, DefaultBurstReplicas)
	}
}

func TestSyncStopsCreatingAfterAFailedBatch(t *testing.T) {
	f := newFixture(t, 10, 0)
	f.cache.failing = func(n int) bool { return n > 3 }
	ctx := context.Background()
	status, _, err := f.syncer.Sync(ctx, f.rs, f.rs)
	if err == nil || !strings.Contains(err.Error(), "exceeded quota") {
		t.Fatalf("error %v", err)
	}
	// Batches of 1 and 2 succeed; the batch of 4 fails and nothing more is tried.
	if n, tries := len(f.pods(t)), f.cache.creates.Load(); n != 3 || tries != 7 {
		t.Fatalf("%d pods created in %d tries, want 3 in 7", n, tries)
	}
	c := condition(status, appsv1.ReplicaSetReplicaFailure)
	if c == nil || c.Reason != "FailedCreate" || !strings.Contains(c.Message, "exceeded quota") {
		t.Fatalf("ReplicaFailure %+v", c)
	}
	var failed int
	for len(f.recorder.Events) > 0 {
		if e := <-f.recorder.Events; strings.HasPrefix(e, "Warning FailedCreate Error creating: ") {
			failed++
		}
	}
	if failed != 4 {
		t.Errorf("%d FailedCreate events, want 4", failed)
	}
	// Only the creations that happened are awaited: once seen, the next sync tries again.
	f.deliver(f.pods(t), nil)
	f.cache.failing = nil
	status, _, err = f.syncer.Sync(ctx, f.rs, f.rs)
	if err != nil || len(f.pods(t)) != 10 || condition(status, appsv1.ReplicaSetReplicaFailure) != nil {
		t.Fatalf("retry: %d pods, conditions %+v, %v", len(f.pods(t)), status.Conditions, err)
	}
}

func TestSyncLeavesPodsAloneWhileTheOwnerIsDeleted(t *testing.T) {
	f := newFixture(t, 5, 1)
	f.rs.DeletionTimestamp = ptr.To(metav1.Now())
	status, _, err := f.syncer.Sync(context.Background(), f.rs, f.rs)
	if err != nil || len(f.pods(t)) != 1 || status.Replicas != 1 {
		t.Fatalf("%d pods, status %d, %v", len(f.pods(t)), status.Replicas, err)
	}
}
