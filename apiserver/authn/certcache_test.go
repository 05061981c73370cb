package authn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// countingAuthenticator stands for the certificate check: it counts its calls and answers ok/err.
type countingAuthenticator struct {
	calls int
	ok    bool
	err   error
}

func (c *countingAuthenticator) AuthenticateRequest(*http.Request) (*authenticator.Response, bool, error) {
	c.calls++
	if !c.ok {
		return nil, false, c.err
	}
	return &authenticator.Response{User: &user.DefaultInfo{Name: "system:node:n1"}}, true, nil
}

func certRequest(raw string, notAfter time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: []byte(raw), NotAfter: notAfter}}}
	return r
}

func TestVerifiedChainsAreCheckedOncePerPoolAndTTL(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pool := x509.NewCertPool()
	next := &countingAuthenticator{ok: true}
	v := newVerifiedCerts(next, func() (x509.VerifyOptions, bool) { return x509.VerifyOptions{Roots: pool}, true })
	v.now = func() time.Time { return now }
	expiry := now.Add(time.Hour)

	steps := []struct {
		name      string
		req       *http.Request
		advance   time.Duration
		newPool   bool
		wantCalls int
	}{
		{name: "first request verifies", req: certRequest("a", expiry), wantCalls: 1},
		{name: "same chain is remembered", req: certRequest("a", expiry), wantCalls: 1},
		{name: "another chain verifies", req: certRequest("b", expiry), wantCalls: 2},
		{name: "after the TTL it verifies again", req: certRequest("a", expiry), advance: verifiedCertTTL, wantCalls: 3},
		{name: "a new CA pool verifies again", req: certRequest("a", expiry), newPool: true, wantCalls: 4},
		{name: "and is remembered for that pool", req: certRequest("a", expiry), wantCalls: 4},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if s.newPool {
			pool = x509.NewCertPool()
		}
		resp, ok, err := v.AuthenticateRequest(s.req)
		if !ok || err != nil || resp.User.GetName() != "system:node:n1" {
			t.Fatalf("%s: got %v %v %v", s.name, resp, ok, err)
		}
		if next.calls != s.wantCalls {
			t.Fatalf("%s: %d verifications, want %d", s.name, next.calls, s.wantCalls)
		}
	}
}

func TestVerifiedChainsEndWithTheirCertificate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	next := &countingAuthenticator{ok: true}
	v := newVerifiedCerts(next, func() (x509.VerifyOptions, bool) { return x509.VerifyOptions{}, true })
	v.now = func() time.Time { return now }
	soon := now.Add(10 * time.Second)
	v.AuthenticateRequest(certRequest("short", soon))
	now = soon // the certificate expired: the real check (which refuses it) must run
	v.AuthenticateRequest(certRequest("short", soon))
	if next.calls != 2 {
		t.Fatalf("an expired certificate was taken from memory: %d verifications, want 2", next.calls)
	}
}

func TestFailedVerificationsAreNotRemembered(t *testing.T) {
	next := &countingAuthenticator{err: errors.New("x509: certificate signed by unknown authority")}
	v := newVerifiedCerts(next, func() (x509.VerifyOptions, bool) { return x509.VerifyOptions{}, true })
	for i := range 2 {
		if _, ok, err := v.AuthenticateRequest(certRequest("bad", time.Now().Add(time.Hour))); ok || err == nil {
			t.Fatalf("attempt %d: a bad certificate authenticated (err %v)", i+1, err)
		}
	}
	if next.calls != 2 {
		t.Fatalf("%d verifications, want 2", next.calls)
	}
	if _, ok, err := v.AuthenticateRequest(httptest.NewRequest(http.MethodGet, "/api", nil)); ok || err != nil || next.calls != 2 {
		t.Fatalf("a request without a certificate: ok %v err %v, %d verifications", ok, err, next.calls)
	}
}
