package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apiserver/pki"
)

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", certPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func roots(ca *pki.CA) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

func TestCAIsMadeOnceAndReloadedFromItsDirectory(t *testing.T) {
	dir := t.TempDir()
	first, err := pki.LoadOrCreateCA(dir, "skiff-ca")
	if err != nil {
		t.Fatal(err)
	}
	if !first.Cert.IsCA || first.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA certificate: IsCA=%v KeyUsage=%v, want a certificate that signs certificates", first.Cert.IsCA, first.Cert.KeyUsage)
	}
	if !strings.HasPrefix(first.Cert.Subject.CommonName, "skiff-ca@") {
		t.Errorf("CA common name = %q, want skiff-ca@<time>", first.Cert.Subject.CommonName)
	}
	if err := first.Cert.CheckSignatureFrom(first.Cert); err != nil {
		t.Errorf("CA certificate is not self-signed: %v", err)
	}
	if got := parseCert(t, first.CertPEM); !got.Equal(first.Cert) {
		t.Error("CertPEM is not the CA's certificate")
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, first.CertPEM) {
		t.Error("ca.crt differs from the CA returned")
	}

	again, err := pki.LoadOrCreateCA(dir, "skiff-ca")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cert.Equal(first.Cert) || !bytes.Equal(again.CertPEM, first.CertPEM) {
		t.Error("a second start made a new CA instead of loading the one in the directory")
	}
	// The reloaded CA signs with the same key: what it issues verifies against the first.
	kp, err := again.ClientCert(dir, "probe", "probe", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseCert(t, kp.CertPEM).Verify(x509.VerifyOptions{Roots: roots(first), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate of the reloaded CA does not verify against the original: %v", err)
	}

	other, err := pki.LoadOrCreateCA(t.TempDir(), "skiff-ca")
	if err != nil {
		t.Fatal(err)
	}
	if other.Cert.Equal(first.Cert) {
		t.Error("two directories got the same CA")
	}
}

func TestDamagedCAIsReportedNotReplaced(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.LoadOrCreateCA(dir, "skiff-ca"); err != nil {
		t.Fatal(err)
	}
	damaged := []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadOrCreateCA(dir, "skiff-ca"); err == nil {
		t.Fatal("a damaged ca.crt was accepted")
	}
	got, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, damaged) {
		t.Error("a damaged ca.crt was overwritten")
	}
}

func TestServingCertCoversItsHostsAndVerifiesForServerAuth(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir, "skiff-ca")
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"localhost", "kubernetes", "kubernetes.default.svc.cluster.local"}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.43.0.1"), net.ParseIP("::1")}
	kp, err := ca.ServingCert(dir, "serving", "kube-apiserver", hosts, ips)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM); err != nil {
		t.Fatalf("certificate and key do not match: %v", err)
	}
	cert := parseCert(t, kp.CertPEM)
	if cert.Subject.CommonName != "kube-apiserver" {
		t.Errorf("CN = %q, want kube-apiserver", cert.Subject.CommonName)
	}
	if cert.IsCA {
		t.Error("serving certificate is a CA")
	}
	names := append(append([]string{}, hosts...), "127.0.0.1", "10.43.0.1", "::1")
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if _, err := cert.Verify(x509.VerifyOptions{
				Roots: roots(ca), DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}); err != nil {
				t.Errorf("does not verify for %s: %v", name, err)
			}
		})
	}
	if err := cert.VerifyHostname("example.com"); err == nil {
		t.Error("serving certificate also covers example.com")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots(ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("serving certificate is accepted as a client certificate")
	}
}

func TestServingCertIsKeptUnlessItNoLongerFits(t *testing.T) {
	hosts := []string{"localhost", "kubernetes"}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.43.0.1")}
	for _, tc := range []struct {
		name     string
		hosts    []string
		ips      []net.IP
		reissued bool
	}{
		{name: "same hosts and IPs", hosts: hosts, ips: ips},
		{name: "a subset", hosts: hosts[:1], ips: ips[1:]},
		{name: "the same IP written as IPv4-in-IPv6", hosts: hosts, ips: []net.IP{net.ParseIP("::ffff:127.0.0.1")}},
		{name: "a new IP", hosts: hosts, ips: append(slices.Clone(ips), net.ParseIP("192.168.5.5")), reissued: true},
		{name: "a new host", hosts: append(slices.Clone(hosts), "skiff.example"), ips: ips, reissued: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ca, err := pki.LoadOrCreateCA(dir, "skiff-ca")
			if err != nil {
				t.Fatal(err)
			}
			first, err := ca.ServingCert(dir, "serving", "kube-apiserver", hosts, ips)
			if err != nil {
				t.Fatal(err)
			}
			second, err := ca.ServingCert(dir, "serving", "kube-apiserver", tc.hosts, tc.ips)
			if err != nil {
				t.Fatal(err)
			}
			if got := !bytes.Equal(first.CertPEM, second.CertPEM); got != tc.reissued {
				t.Fatalf("reissued = %v, want %v", got, tc.reissued)
			}
			cert := parseCert(t, second.CertPEM)
			for _, h := range tc.hosts {
				if err := cert.VerifyHostname(h); err != nil {
					t.Errorf("certificate does not cover %s: %v", h, err)
				}
			}
			for _, ip := range tc.ips {
				if err := cert.VerifyHostname(ip.String()); err != nil {
					t.Errorf("certificate does not cover %s: %v", ip, err)
				}
			}
			onDisk, err := os.ReadFile(filepath.Join(dir, "serving.crt"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(onDisk, second.CertPEM) {
				t.Error("serving.crt is not the certificate returned")
			}
		})
	}
}

func TestServingCertIsReissuedWhenNearExpiryOrSignedByAnotherCA(t *testing.T) {
	hosts, ips := []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir string, ca *pki.CA)
	}{
		{"expires in a day", func(t *testing.T, dir string, ca *pki.CA) {
			signer := loadCAKey(t, dir)
			writeLeaf(t, dir, "serving", ca.Cert, signer, hosts, ips, time.Now().Add(24*time.Hour))
		}},
		{"signed by another CA", func(t *testing.T, dir string, ca *pki.CA) {
			otherDir := t.TempDir()
			other, err := pki.LoadOrCreateCA(otherDir, "other-ca")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.ServingCert(dir, "serving", "kube-apiserver", hosts, ips); err != nil {
				t.Fatal(err)
			}
		}},
		{"key does not match the certificate", func(t *testing.T, dir string, ca *pki.CA) {
			if _, err := ca.ServingCert(dir, "serving", "kube-apiserver", hosts, ips); err != nil {
				t.Fatal(err)
			}
			stray, err := ca.ClientCert(t.TempDir(), "stray", "stray", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "serving.key"), stray.KeyPEM, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ca, err := pki.LoadOrCreateCA(dir, "skiff-ca")
			if err != nil {
				t.Fatal(err)
			}
			tc.plant(t, dir, ca)
			kp, err := ca.ServingCert(dir, "serving", "kube-apiserver", hosts, ips)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM); err != nil {
				t.Fatalf("certificate and key do not match: %v", err)
			}
			cert := parseCert(t, kp.CertPEM)
			if _, err := cert.Verify(x509.VerifyOptions{
				Roots: roots(ca), DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
				CurrentTime: time.Now().Add(300 * 24 * time.Hour),
			}); err != nil {
				t.Errorf("the certificate kept is not a fresh one of this CA: %v", err)
			}
		})
	}
}

func TestClientCertNamesTheUserAndGroups(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir, "skiff-ca")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ca.ClientCert(dir, "admin", "admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	cert := parseCert(t, admin.CertPEM)
	if cert.Subject.CommonName != "admin" || !slices.Equal(cert.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("subject = CN %q O %v, want CN admin O [system:masters]", cert.Subject.CommonName, cert.Subject.Organization)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots(ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify for client auth: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots(ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client certificate is accepted as a serving certificate")
	}

	for _, tc := range []struct {
		name     string
		cn       string
		orgs     []string
		reissued bool
	}{
		{"same user and groups", "admin", []string{"system:masters"}, false},
		{"other groups", "admin", []string{"system:masters", "ops"}, true},
		{"the same two groups again", "admin", []string{"system:masters", "ops"}, false},
		{"the same groups in another order", "admin", []string{"ops", "system:masters"}, false},
		{"other user", "root", []string{"system:masters", "ops"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := os.ReadFile(filepath.Join(dir, "admin.crt"))
			if err != nil {
				t.Fatal(err)
			}
			kp, err := ca.ClientCert(dir, "admin", tc.cn, tc.orgs)
			if err != nil {
				t.Fatal(err)
			}
			if got := !bytes.Equal(before, kp.CertPEM); got != tc.reissued {
				t.Errorf("reissued = %v, want %v", got, tc.reissued)
			}
			c := parseCert(t, kp.CertPEM)
			// A certificate's subject holds its organizations as a set.
			if c.Subject.CommonName != tc.cn || !slices.Equal(slices.Sorted(slices.Values(c.Subject.Organization)), slices.Sorted(slices.Values(tc.orgs))) {
				t.Errorf("subject = CN %q O %v, want CN %q O %v", c.Subject.CommonName, c.Subject.Organization, tc.cn, tc.orgs)
			}
		})
	}
}

func TestKeysAreReadableOnlyByTheOwner(t *testing.T) {
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	ca, err := pki.LoadOrCreateCA(tlsDir, "skiff-ca")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ServingCert(tlsDir, "serving", "kube-apiserver", []string{"localhost"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ClientCert(tlsDir, "admin", "admin", []string{"system:masters"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		mode os.FileMode
	}{
		{"ca.key", 0o600},
		{"serving.key", 0o600},
		{"admin.key", 0o600},
		{"ca.crt", 0o644},
		{"serving.crt", 0o644},
		{"admin.crt", 0o644},
	} {
		t.Run(tc.file, func(t *testing.T) {
			info, err := os.Stat(filepath.Join(tlsDir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != tc.mode {
				t.Errorf("mode = %o, want %o", got, tc.mode)
			}
		})
	}
	info, err := os.Stat(tlsDir)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got&0o077 != 0 {
		t.Errorf("directory made for the keys has mode %o, want no access for others", got)
	}
	entries, err := os.ReadDir(tlsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// loadCAKey reads the CA's private key as LoadOrCreateCA wrote it.
func loadCAKey(t *testing.T, dir string) *ecdsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("ca.key is not PEM")
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// writeLeaf writes name.crt/name.key: a serving certificate signed by parent that expires at notAfter.
func writeLeaf(t *testing.T, dir, name string, parent *x509.Certificate, signer *ecdsa.PrivateKey, hosts []string, ips []net.IP, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:     hosts,
		IPAddresses:  ips,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}
