// Package pki keeps the cluster's certificate authority and the certificates it signs: the API server's
// serving certificate and client certificates such as the admin's. Everything is made at first start and
// kept in a directory; ECDSA P-256 keys keep that first start fast.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/skiffhq/skiff/internal/atomicfile"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore is how close to expiry a leaf certificate is made anew at start.
	renewBefore = 30 * 24 * time.Hour
)

// CA is the cluster certificate authority.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     crypto.Signer
}

// KeyPair is a certificate and its private key, PEM encoded.
type KeyPair struct {
	CertPEM, KeyPEM []byte
}

// LoadOrCreateCA reads ca.crt and ca.key from dir, making them first if they do not exist.
func LoadOrCreateCA(dir, commonName string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if kp, err := readPair(certPath, keyPath); err == nil {
		return parseCA(kp)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", commonName, now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	kp, err := encode(der, key)
	if err != nil {
		return nil, err
	}
	if err := writePair(certPath, keyPath, kp); err != nil {
		return nil, err
	}
	return parseCA(kp)
}

// ServingCert returns the serving certificate kept as name.crt/name.key in dir, made anew when it is
// missing, about to expire, or does not cover every host and IP given.
func (ca *CA) ServingCert(dir, name, commonName string, hosts []string, ips []net.IP) (KeyPair, error) {
	certPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if kp, err := readPair(certPath, keyPath); err == nil {
		if cert, err := ca.verify(kp, x509.ExtKeyUsageServerAuth); err == nil && covers(cert, hosts, ips) {
			return kp, nil
		}
	}
	kp, err := ca.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		DNSNames:    hosts,
		IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return KeyPair{}, err
	}
	return kp, writePair(certPath, keyPath, kp)
}

// ClientCert returns the client certificate kept as name.crt/name.key in dir for the user commonName in
// the groups organizations, made anew when missing, expiring or naming someone else.
func (ca *CA) ClientCert(dir, name, commonName string, organizations []string) (KeyPair, error) {
	certPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if kp, err := readPair(certPath, keyPath); err == nil {
		// A subject holds its organizations as a DER SET, sorted: compare them as sets.
		if cert, err := ca.verify(kp, x509.ExtKeyUsageClientAuth); err == nil &&
			cert.Subject.CommonName == commonName &&
			slices.Equal(slices.Sorted(slices.Values(cert.Subject.Organization)), slices.Sorted(slices.Values(organizations))) {
			return kp, nil
		}
	}
	kp, err := ca.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName, Organization: organizations},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return KeyPair{}, err
	}
	return kp, writePair(certPath, keyPath, kp)
}

// SignClientCSR signs a client certificate for the subject (common name and organizations) and the key
// of csr, whose signature it checks first. It returns the certificate PEM encoded. Checking that the
// subject may be given is the caller's business.
func (ca *CA) SignClientCSR(csr *x509.CertificateRequest) ([]byte, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request signature: %w", err)
	}
	der, err := ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: csr.Subject.CommonName, Organization: csr.Subject.Organization},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, csr.PublicKey)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func (ca *CA) sign(tmpl *x509.Certificate) (KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("generate key: %w", err)
	}
	der, err := ca.issue(tmpl, key.Public())
	if err != nil {
		return KeyPair{}, err
	}
	return encode(der, key)
}

// issue signs a leaf certificate of tmpl's subject and usages for pub, valid for leafValidity but never
// past the CA's own expiry.
func (ca *CA) issue(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(leafValidity)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	return der, nil
}

// verify checks that kp is a pair signed by ca for usage, valid for a while yet.
func (ca *CA) verify(kp KeyPair, usage x509.ExtKeyUsage) (*x509.Certificate, error) {
	pair, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	_, err = cert.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: time.Now().Add(renewBefore),
		KeyUsages:   []x509.ExtKeyUsage{usage},
	})
	return cert, err
}

func covers(cert *x509.Certificate, hosts []string, ips []net.IP) bool {
	for _, h := range hosts {
		if !slices.Contains(cert.DNSNames, h) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func parseCA(kp KeyPair) (*CA, error) {
	pair, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key pair: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok || !cert.IsCA {
		return nil, fmt.Errorf("CA certificate %q cannot sign", cert.Subject.CommonName)
	}
	return &CA{Cert: cert, CertPEM: kp.CertPEM, key: signer}, nil
}

func encode(der []byte, key *ecdsa.PrivateKey) (KeyPair, error) {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return KeyPair{}, fmt.Errorf("encode key: %w", err)
	}
	return KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func readPair(certPath, keyPath string) (KeyPair, error) {
	c, err := os.ReadFile(certPath)
	if err != nil {
		return KeyPair{}, err
	}
	k, err := os.ReadFile(keyPath)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{CertPEM: c, KeyPEM: k}, nil
}

func writePair(certPath, keyPath string, kp KeyPair) error {
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return err
	}
	if err := atomicfile.Write(keyPath, kp.KeyPEM, 0o600); err != nil {
		return err
	}
	return atomicfile.Write(certPath, kp.CertPEM, 0o644)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("read random serial: %v", err))
	}
	return n
}
