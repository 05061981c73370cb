package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// configMapData is the ~1 KiB payload of every ConfigMap the benchmark creates.
var configMapData = map[string]string{"data": strings.Repeat("x", 1024)}

// newClient returns a clientset without client-side rate limiting and with a connection of its own:
// client-go shares one transport between identical configs, and a custom Dial opts out of that cache.
func newClient(base *rest.Config) (*kubernetes.Clientset, error) {
	cfg := rest.CopyConfig(base)
	cfg.QPS, cfg.Burst = -1, 0
	cfg.Dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	return kubernetes.NewForConfig(cfg)
}

// writeResult is the outcome of createConfigMaps.
type writeResult struct {
	Elapsed       time.Duration
	PerSecond     float64
	P50, P99, Max time.Duration
}

// createConfigMaps creates n ConfigMaps named prefix-0 .. prefix-(n-1) in the default namespace from
// `workers` clientsets and times each create. Each client first makes one untimed request, so TLS
// handshakes are not counted as create latency.
func createConfigMaps(ctx context.Context, cfg *rest.Config, prefix string, n, workers int) (writeResult, error) {
	clients := make([]*kubernetes.Clientset, workers)
	for i := range clients {
		c, err := newClient(cfg)
		if err != nil {
			return writeResult{}, err
		}
		if _, err := c.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return writeResult{}, fmt.Errorf("warm up client %d: %w", i, err)
		}
		clients[i] = c
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	latencies := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for _, c := range clients {
		wg.Go(func() {
			cms := c.CoreV1().ConfigMaps(metav1.NamespaceDefault)
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, i)}, Data: configMapData}
				t := time.Now()
				if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					cancel(fmt.Errorf("create configmap %s: %w", cm.Name, err))
					return
				}
				latencies[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return writeResult{}, err
	}

	slices.Sort(latencies)
	return writeResult{
		Elapsed:   elapsed,
		PerSecond: float64(n) / elapsed.Seconds(),
		P50:       percentile(latencies, 50),
		P99:       percentile(latencies, 99),
		Max:       latencies[n-1],
	}, nil
}

// percentile returns the nearest-rank p-th percentile of sorted, which must not be empty.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * len)
	return sorted[max(rank, 1)-1]
}
