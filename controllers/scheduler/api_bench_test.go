package scheduler

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/skiffhq/skiff/testenv"
)

// BenchmarkScheduleEndToEnd binds pods created before the scheduler starts on 1000 nodes through a
// real in-process API server, as hack/bench does with separate processes, and reports pods bound
// per second from the first bind to the last. Each iteration is one such run:
//
//	go test -run '^$' -bench EndToEnd -benchtime 1x ./controllers/scheduler/
func BenchmarkScheduleEndToEnd(b *testing.B) {
	const nodes, pods = 1000, 5000
	for range b.N {
		b.StopTimer()
		env := testenv.New(b)
		cfg := rest.CopyConfig(env.Config)
		cs := kubernetes.NewForConfigOrDie(cfg)
		ctx := context.Background()
		create(b, nodes, func(i int) error {
			n := node(fmt.Sprintf("node-%d", i), "32", "128Gi", corev1.LabelTopologyZone, fmt.Sprintf("zone-%d", i%10))
			status := n.Status
			n.Status = corev1.NodeStatus{}
			created, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			created.Status = status
			_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
			return err
		})
		create(b, pods, func(i int) error {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: "default", Labels: map[string]string{"app": "bench"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "bench:v1", Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("10Mi")}}}}}}
			_, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
			return err
		})

		mgr, err := ctrl.NewManager(cfg, manager.Options{
			Scheme: scheme.Scheme, Logger: logr.Discard(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
			Cache:      cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
			Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		})
		if err != nil {
			b.Fatal(err)
		}
		s := &Scheduler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("default-scheduler")}
		if err := s.SetupWithManager(mgr); err != nil {
			b.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		b.StartTimer()
		go func() { done <- mgr.Start(runCtx) }()
		var first time.Time
		for s.stats.scheduled.Load() < pods {
			if first.IsZero() && s.stats.scheduled.Load() > 0 {
				first = time.Now()
			}
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(first)
		b.StopTimer()
		b.ReportMetric(float64(pods)/elapsed.Seconds(), "pods/s")
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// create runs do(i) for each i in [0, n) from 32 goroutines.
func create(b *testing.B, n int, do func(i int) error) {
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range next {
				if err := do(i); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
}
