package authn

import (
	"crypto/sha256"
	"crypto/x509"
	"net/http"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/utils/lru"
)

const (
	// verifiedCertTTL is how long a verified client certificate chain is taken as verified.
	verifiedCertTTL = time.Minute
	// verifiedCertEntries bounds the chains remembered: one per node and controller is plenty.
	verifiedCertEntries = 4096
)

// verifiedCerts authenticates client certificates through next, and remembers the user of each chain
// that verified. A client sends the same chain on every request of a connection, and checking its
// signature again each time costs more than the rest of authentication and authorization together.
// A remembered chain is taken again only while the CA pool is the one that verified it, before its
// leaf expires and for at most verifiedCertTTL; failures are never remembered.
type verifiedCerts struct {
	next    authenticator.Request
	options x509request.VerifyOptionFunc
	now     func() time.Time
	cache   *lru.Cache // of verifiedCert by the chain's sha256; safe for concurrent use
}

type verifiedCert struct {
	resp  *authenticator.Response
	roots *x509.CertPool
	until time.Time
}

func newVerifiedCerts(next authenticator.Request, options x509request.VerifyOptionFunc) *verifiedCerts {
	return &verifiedCerts{next: next, options: options, now: time.Now, cache: lru.New(verifiedCertEntries)}
}

func (v *verifiedCerts) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	opts, ok := v.options()
	if !ok {
		return v.next.AuthenticateRequest(req)
	}
	h := sha256.New()
	for _, c := range req.TLS.PeerCertificates {
		h.Write(c.Raw)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	now := v.now()
	if got, found := v.cache.Get(key); found {
		e := got.(verifiedCert)
		if e.roots == opts.Roots && now.Before(e.until) {
			return e.resp, true, nil
		}
		v.cache.Remove(key)
	}
	resp, ok, err := v.next.AuthenticateRequest(req)
	if ok && err == nil {
		until := now.Add(verifiedCertTTL)
		if notAfter := req.TLS.PeerCertificates[0].NotAfter; notAfter.Before(until) {
			until = notAfter
		}
		if until.After(now) {
			v.cache.Add(key, verifiedCert{resp: resp, roots: opts.Roots, until: until})
		}
	}
	return resp, ok, err
}
