package authn_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"

	"github.com/skiffhq/skiff/apiserver/authn"
	"github.com/skiffhq/skiff/apiserver/pki"
)

const tokenFile = `admin-token,admin,uid-admin,"system:masters"
dev-token,alice,uid-alice,"dev,ops"
plain-token,bob,uid-bob
`

// setup returns an authenticator of a fresh CA's client certificates and of tokenFile, and the CA.
func setup(t *testing.T) (authenticator.Request, *pki.CA) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir, "skiff-ca")
	if err != nil {
		t.Fatal(err)
	}
	caContent, err := dynamiccertificates.NewStaticCAContent("client-ca", ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(tokenFile), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := authn.New(authn.Config{ClientCA: caContent, TokenAuthFile: tokens})
	if err != nil {
		t.Fatal(err)
	}
	return a, ca
}

func leaf(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("not PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func withCert(r *http.Request, c *x509.Certificate) *http.Request {
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
	return r
}

func withToken(r *http.Request, token string) *http.Request {
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func TestCredentialsAuthenticateTheirUser(t *testing.T) {
	a, ca := setup(t)
	dir := t.TempDir()
	admin, err := ca.ClientCert(dir, "admin", "admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	node, err := ca.ClientCert(dir, "node", "system:node:n1", []string{"system:nodes", "skiff:agents"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		req    *http.Request
		user   string
		uid    string
		groups []string
	}{
		{
			name: "client certificate of the CA", req: withCert(httptest.NewRequest("GET", "/api/v1/pods", nil), leaf(t, admin.CertPEM)),
			user: "admin", groups: []string{"system:masters", user.AllAuthenticated},
		},
		{
			name: "client certificate with two groups", req: withCert(httptest.NewRequest("GET", "/api", nil), leaf(t, node.CertPEM)),
			user: "system:node:n1", groups: []string{"skiff:agents", "system:nodes", user.AllAuthenticated},
		},
		{
			name: "token with one group", req: withToken(httptest.NewRequest("GET", "/apis", nil), "admin-token"),
			user: "admin", uid: "uid-admin", groups: []string{"system:masters", user.AllAuthenticated},
		},
		{
			name: "token with two groups", req: withToken(httptest.NewRequest("GET", "/api/v1/namespaces", nil), "dev-token"),
			user: "alice", uid: "uid-alice", groups: []string{"dev", "ops", user.AllAuthenticated},
		},
		{
			name: "token without groups", req: withToken(httptest.NewRequest("GET", "/api/v1/namespaces", nil), "plain-token"),
			user: "bob", uid: "uid-bob", groups: []string{user.AllAuthenticated},
		},
		{
			name: "token on a public path is still its user", req: withToken(httptest.NewRequest("GET", "/healthz", nil), "dev-token"),
			user: "alice", uid: "uid-alice", groups: []string{"dev", "ops", user.AllAuthenticated},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, ok, err := a.AuthenticateRequest(tc.req)
			if err != nil || !ok {
				t.Fatalf("AuthenticateRequest = ok %v, err %v; want authenticated", ok, err)
			}
			u := resp.User
			if u.GetName() != tc.user || u.GetUID() != tc.uid {
				t.Errorf("user = %q uid %q, want %q uid %q", u.GetName(), u.GetUID(), tc.user, tc.uid)
			}
			if got := slices.Sorted(slices.Values(u.GetGroups())); !slices.Equal(got, slices.Sorted(slices.Values(tc.groups))) {
				t.Errorf("groups = %v, want %v", u.GetGroups(), tc.groups)
			}
			if tc.req.Header.Get("Authorization") != "" {
				t.Error("an accepted bearer token is left on the request for handlers to see")
			}
		})
	}
}

func TestAnonymousRequestsReachOnlyHealthAndVersion(t *testing.T) {
	a, _ := setup(t)
	for _, tc := range []struct {
		path   string
		public bool
	}{
		{"/healthz", true},
		{"/livez", true},
		{"/readyz", true},
		{"/version", true},
		{"/readyz/etcd", true},
		{"/livez/ping", true},
		{"/healthz/poststarthook/skiff-bootstrap", true},
		{"/version/", true},
		{"/", false},
		{"/api", false},
		{"/apis", false},
		{"/api/v1/namespaces/default/secrets", false},
		{"/openapi/v2", false},
		{"/metrics", false},
		{"/healthzx", false},
		{"/versions", false},
		{"/readyz-etcd", false},
		{"/api/v1/namespaces/default/services/healthz", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, ok, err := a.AuthenticateRequest(httptest.NewRequest("GET", tc.path, nil))
			if !tc.public {
				if ok {
					t.Errorf("anonymous request authenticated as %q", resp.User.GetName())
				}
				return
			}
			if err != nil || !ok {
				t.Fatalf("AuthenticateRequest = ok %v, err %v; want anonymous", ok, err)
			}
			if resp.User.GetName() != user.Anonymous || !slices.Equal(resp.User.GetGroups(), []string{user.AllUnauthenticated}) {
				t.Errorf("user = %q %v, want %q [%s]", resp.User.GetName(), resp.User.GetGroups(), user.Anonymous, user.AllUnauthenticated)
			}
		})
	}
}

func TestBadCredentialsAreNotAuthenticated(t *testing.T) {
	a, ca := setup(t)
	other, err := pki.LoadOrCreateCA(t.TempDir(), "other-ca")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.ClientCert(t.TempDir(), "admin", "admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.ServingCert(t.TempDir(), "serving", "kube-apiserver", []string{"localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/pods", "/healthz", "/readyz/etcd"} {
		for _, tc := range []struct {
			name string
			req  *http.Request
		}{
			{"unknown token", withToken(httptest.NewRequest("GET", path, nil), "not-a-token")},
			{"token of another user's prefix", withToken(httptest.NewRequest("GET", path, nil), "admin-token-x")},
			{"certificate of another CA", withCert(httptest.NewRequest("GET", path, nil), leaf(t, foreign.CertPEM))},
			{"serving certificate of the CA", withCert(httptest.NewRequest("GET", path, nil), leaf(t, serving.CertPEM))},
		} {
			// Bad credentials are refused even where anonymous requests are allowed, as upstream:
			// they are never taken for anonymous.
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				resp, ok, _ := a.AuthenticateRequest(tc.req)
				if ok {
					t.Errorf("authenticated as %q %v", resp.User.GetName(), resp.User.GetGroups())
				}
			})
		}
	}
}

func TestUnreadableTokenFileIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content *string
	}{
		{name: "missing file"},
		{name: "line without a uid", content: ptr("token,user\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens.csv")
			if tc.content != nil {
				if err := os.WriteFile(path, []byte(*tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := authn.New(authn.Config{TokenAuthFile: path}); err == nil {
				t.Error("New accepted the token file")
			}
		})
	}
}

func ptr(s string) *string { return &s }
