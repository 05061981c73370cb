package join

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apiserver/pki"
)

// TestKeptCredentialsAreRenewedNearExpiry checks when kept credentials stop being good enough: near the
// end of the certificate, for another server, for another CA.
func TestKeptCredentialsAreRenewedNearExpiry(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: NodeUserPrefix + "n1", Organization: []string{NodesGroup}}}, key)
	csr, _ := x509.ParseCertificateRequest(csrDER)
	certPEM, err := ca.SignClientCSR(csr)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	const server = "https://192.0.2.1:6443"
	if err := save(dir, server, ca.CertPEM, certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})); err != nil {
		t.Fatal(err)
	}
	token, _ := NewToken(ca.CertPEM)
	block, _ := pem.Decode(certPEM)
	cert, _ := x509.ParseCertificate(block.Bytes)
	kubeconfig := filepath.Join(dir, KubeconfigFile)

	if err := usable(kubeconfig, server, token, "n1", time.Now()); err != nil {
		t.Errorf("fresh credentials: %v", err)
	}
	if err := usable(kubeconfig, server, token, "n1", cert.NotAfter.Add(-24*time.Hour)); err == nil {
		t.Error("credentials a day from expiry are still used")
	}
	if err := usable(kubeconfig, "https://192.0.2.2:6443", token, "n1", time.Now()); err == nil {
		t.Error("credentials of another server are used")
	}
	if err := usable(kubeconfig, server, token, "n2", time.Now()); err == nil {
		t.Error("credentials of another node are used")
	}
	other := token
	other.CAHash = "00"
	if err := usable(kubeconfig, server, other, "n1", time.Now()); err == nil {
		t.Error("credentials of another CA are used")
	}
}
