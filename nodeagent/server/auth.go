package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"slices"
	"time"
)

// Who may use the API: the API server's client certificate names it with this CommonName, and an
// administrator's with this Organization.
const (
	APIServerClientName = "kube-apiserver-kubelet-client"
	MastersGroup        = "system:masters"
)

// authorized wraps h: the request's client certificate must verify against the client CAs (else 401)
// and name the API server or an administrator (else 403).
func (s *Server) authorized(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cert, err := s.authenticate(r)
		if err != nil {
			writeStatus(w, http.StatusUnauthorized, "Unauthorized: "+err.Error())
			return
		}
		if cert.Subject.CommonName != APIServerClientName && !slices.Contains(cert.Subject.Organization, MastersGroup) {
			writeStatus(w, http.StatusForbidden, fmt.Sprintf("Forbidden (user=%s, groups=%v, verb=%s, resource=nodes, subresource=proxy)",
				cert.Subject.CommonName, cert.Subject.Organization, verb(r.Method)))
			return
		}
		h(w, r)
	})
}

// authenticate returns the request's verified client certificate.
func (s *Server) authenticate(r *http.Request) (*x509.Certificate, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, errors.New("no client certificate")
	}
	leaf := r.TLS.PeerCertificates[0]
	intermediates := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         s.cfg.ClientCAs,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	return leaf, nil
}

func verb(method string) string {
	if method == http.MethodGet {
		return "get"
	}
	return "create"
}

// SelfSignedServingCert makes the agent's serving certificate for when none is given, as the kubelet
// does: self-signed, for the node's name and addresses, valid for a year. The API server does not
// verify the agent's certificate, so nothing needs to trust it.
func SelfSignedServingCert(nodeName string, ips []net.IP) (tls.Certificate, error) {
	if nodeName == "" {
		return tls.Certificate{}, errors.New("serving certificate: node name is empty")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("serving certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("serving certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", nodeName, now.Unix())},
		NotBefore:             now.Add(-time.Minute), // clocks differ a little
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{nodeName},
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("serving certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("serving certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
