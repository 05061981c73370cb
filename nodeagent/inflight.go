package nodeagent

import (
	"net/http"

	"k8s.io/client-go/rest"
)

// DefaultMaxInFlight is how many API requests, watches aside, one agent process has open at most.
const DefaultMaxInFlight = 32

// LimitInFlight makes the clients of cfg wait while n requests are open, watches aside. An agent holding
// many nodes wakes thousands of pod workers at once (after a restart, or when the nodes get their pod
// CIDRs); without a bound they all write at the same moment, the API server refuses most of them with
// 429 and the retries crowd out the writes that would have succeeded. Waiting here instead keeps the
// server busy with work, in the order the workers asked.
func LimitInFlight(cfg *rest.Config, n int) {
	slots := make(chan struct{}, n)
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if req.URL.Query().Get("watch") == "true" {
				return next.RoundTrip(req)
			}
			select {
			case slots <- struct{}{}:
			case <-req.Context().Done():
				return nil, req.Context().Err()
			}
			// The slot is free once the response starts: the API server answers these small requests
			// whole, and a body a caller forgets to close must not hold it.
			defer func() { <-slots }()
			return next.RoundTrip(req)
		})
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
