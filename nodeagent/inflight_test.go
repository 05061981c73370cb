package nodeagent

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
)

func TestLimitInFlightBoundsRequestsButNotWatches(t *testing.T) {
	var open, most atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") == "true" {
			<-release // held open like a watch
			return
		}
		n := open.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		open.Add(-1)
	}))
	defer srv.Close()
	defer close(release)

	cfg := &rest.Config{Host: srv.URL}
	LimitInFlight(cfg, 3)
	tc, err := cfg.TransportConfig()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := transport.New(tc)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: rt}

	// Watches beyond the limit are all open at once, and do not take the requests' slots.
	var watches sync.WaitGroup
	for range 5 {
		watches.Go(func() {
			if resp, err := client.Get(srv.URL + "/api/v1/pods?watch=true"); err == nil {
				resp.Body.Close()
			}
		})
	}
	var wg sync.WaitGroup
	start := time.Now()
	for range 12 {
		wg.Go(func() {
			resp, err := client.Get(srv.URL + "/api/v1/pods")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if got := most.Load(); got != 3 {
		t.Fatalf("at most %d requests were open at once, want 3", got)
	}
	if took := time.Since(start); took < 4*20*time.Millisecond {
		t.Fatalf("12 requests 3 at a time took %v, less than 4 rounds", took)
	}
}
