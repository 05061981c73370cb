package apiserver_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiffhq/skiff/apiserver"
	"github.com/skiffhq/skiff/nodeagent/join"
	"github.com/skiffhq/skiff/testenv"
)

// joinClient speaks to the server as an agent does, trusting its CA.
type joinClient struct {
	t    *testing.T
	host string
	http *http.Client
}

func newJoinClient(t *testing.T, env *testenv.Env, certs ...tls.Certificate) *joinClient {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(env.Config.CAData)
	return &joinClient{t: t, host: env.Config.Host, http: &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}}
}

func (c *joinClient) do(method, path, bearer string, body []byte) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.host+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// csr is a PEM certificate request for subject, and its key.
func csr(t *testing.T, cn string, orgs ...string) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), key
}

func TestNodeJoin(t *testing.T) {
	env := testenv.New(t)
	tokenPath := filepath.Join(env.DataDir, apiserver.NodeTokenFile)
	info, err := os.Stat(tokenPath)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("node token file: %v, mode %v", err, info.Mode())
	}
	data, _ := os.ReadFile(tokenPath)
	token, err := join.ParseToken(string(data))
	if err != nil {
		t.Fatal(err)
	}
	c := newJoinClient(t, env)

	t.Run("anyone may read the CA, and it is the one the token names", func(t *testing.T) {
		code, body := c.do(http.MethodGet, join.CACertsPath, "", nil)
		if code != http.StatusOK || !bytes.Equal(body, env.Config.CAData) {
			t.Fatalf("GET %s = %d %q", join.CACertsPath, code, body)
		}
		block, _ := pem.Decode(body)
		sum := sha256.Sum256(block.Bytes)
		if hex.EncodeToString(sum[:]) != token.CAHash {
			t.Errorf("token CA hash %s is not the SHA-256 of the CA's DER", token.CAHash)
		}
		if code, _ := c.do(http.MethodPost, join.CACertsPath, "", nil); code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s = %d", join.CACertsPath, code)
		}
	})

	t.Run("the token gets a node certificate the server accepts", func(t *testing.T) {
		req, key := csr(t, "system:node:edge-7", "system:nodes")
		code, body := c.do(http.MethodPost, join.NodeCertificatePath, token.Secret, req)
		if code != http.StatusOK {
			t.Fatalf("POST %s = %d %s", join.NodeCertificatePath, code, body)
		}
		block, _ := pem.Decode(body)
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if cert.Subject.CommonName != "system:node:edge-7" || !slices.Equal(cert.Subject.Organization, []string{"system:nodes"}) ||
			!slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
			t.Errorf("certificate %v usages %v", cert.Subject, cert.ExtKeyUsage)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		cfg := &rest.Config{Host: env.Config.Host, TLSClientConfig: rest.TLSClientConfig{CAData: env.Config.CAData, CertData: body,
			KeyData: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})}}
		review, err := kubernetes.NewForConfigOrDie(cfg).AuthenticationV1().SelfSubjectReviews().Create(context.Background(),
			&authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("the signed certificate is refused: %v", err)
		}
		if u := review.Status.UserInfo; u.Username != "system:node:edge-7" || !slices.Contains(u.Groups, "system:nodes") {
			t.Errorf("user %q groups %v", u.Username, u.Groups)
		}
	})

	t.Run("a wrong token is refused", func(t *testing.T) {
		req, _ := csr(t, "system:node:edge-7", "system:nodes")
		if code, _ := c.do(http.MethodPost, join.NodeCertificatePath, "not-the-token", req); code != http.StatusUnauthorized {
			t.Errorf("wrong token = %d, want 401", code)
		}
		if code, _ := c.do(http.MethodPost, join.NodeCertificatePath, "", req); code != http.StatusUnauthorized {
			t.Errorf("no token = %d, want 401", code)
		}
	})

	t.Run("the token is good for nothing else", func(t *testing.T) {
		for _, path := range []string{"/api/v1/namespaces", "/apis", "/api/v1/nodes"} {
			if code, _ := c.do(http.MethodGet, path, token.Secret, nil); code != http.StatusUnauthorized {
				t.Errorf("GET %s with the join token = %d, want 401", path, code)
			}
		}
	})

	t.Run("only a node's identity is signed", func(t *testing.T) {
		for _, subject := range [][]string{
			{"system:admin", "system:masters"},
			{"system:node:edge-7", "system:masters"},
			{"system:node:edge-7", "system:nodes", "system:masters"},
			{"system:node:Not_A_Name", "system:nodes"},
			{"system:node:", "system:nodes"},
		} {
			req, _ := csr(t, subject[0], subject[1:]...)
			if code, body := c.do(http.MethodPost, join.NodeCertificatePath, token.Secret, req); code != http.StatusBadRequest {
				t.Errorf("request for %v = %d %s, want 400", subject, code, body)
			}
		}
		if code, _ := c.do(http.MethodPost, join.NodeCertificatePath, token.Secret, []byte("garbage")); code != http.StatusBadRequest {
			t.Errorf("garbage = %d, want 400", code)
		}
		if code, _ := c.do(http.MethodGet, join.NodeCertificatePath, token.Secret, nil); code != http.StatusMethodNotAllowed {
			t.Errorf("GET = %d, want 405", code)
		}
	})

	t.Run("other users may not ask for a node certificate", func(t *testing.T) {
		req, _ := csr(t, "system:node:edge-7", "system:nodes")
		if code, _ := c.do(http.MethodPost, join.NodeCertificatePath, env.Config.BearerToken, req); code != http.StatusForbidden {
			t.Errorf("admin = %d, want 403", code)
		}
	})
}

func TestNodeTokenIsKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	env, err := testenv.Start(context.Background(), testenv.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(filepath.Join(dir, apiserver.NodeTokenFile))
	if err := env.Stop(); err != nil {
		t.Fatal(err)
	}
	env, err = testenv.Start(context.Background(), testenv.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	again, _ := os.ReadFile(filepath.Join(dir, apiserver.NodeTokenFile))
	if len(first) == 0 || !bytes.Equal(first, again) {
		t.Errorf("token changed across a restart: %q then %q", first, again)
	}
}
