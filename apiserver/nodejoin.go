package apiserver

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/server/mux"

	"github.com/skiffhq/skiff/apiserver/authn"
	"github.com/skiffhq/skiff/apiserver/pki"
	"github.com/skiffhq/skiff/nodeagent/join"
)

// NodeTokenFile is the file in the data dir that holds the join token agents join with.
const NodeTokenFile = "node-token"

// maxCSRBytes bounds a certificate request; a real one is a few hundred bytes.
const maxCSRBytes = 64 << 10

// loadOrCreateNodeToken returns the join token kept at path, writing a new one (mode 0600) at the first
// start. A kept token whose CA hash is not caPEM's (the CA was replaced) keeps its secret and gets the
// new hash.
func loadOrCreateNodeToken(path string, caPEM []byte) (join.Token, error) {
	hash, err := join.CAHash(caPEM)
	if err != nil {
		return join.Token{}, err
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		token, err := join.ParseToken(string(data))
		if err != nil {
			return join.Token{}, fmt.Errorf("node token %s: %w", path, err)
		}
		if token.CAHash == hash {
			return token, nil
		}
		token.CAHash = hash
		return token, writeNodeToken(path, token)
	case errors.Is(err, os.ErrNotExist):
		token, err := join.NewToken(caPEM)
		if err != nil {
			return join.Token{}, err
		}
		return token, writeNodeToken(path, token)
	default:
		return join.Token{}, fmt.Errorf("node token: %w", err)
	}
}

func writeNodeToken(path string, token join.Token) error {
	if err := os.WriteFile(path, []byte(token.String()+"\n"), 0o600); err != nil {
		return fmt.Errorf("write node token: %w", err)
	}
	// WriteFile keeps the mode of a file that exists.
	return os.Chmod(path, 0o600)
}

// nodeJoinAuthn makes the join token's secret a bearer token of the bootstrap user, on the certificate
// path only, and the CA certificate public.
func nodeJoinAuthn(c *authn.Config, token join.Token) {
	c.PathTokens = append(c.PathTokens, authn.PathToken{
		Token: token.Secret,
		User:  &user.DefaultInfo{Name: join.BootstrapUser, Groups: []string{join.BootstrapGroup}},
		Paths: []string{join.NodeCertificatePath},
	})
	c.PublicPaths = append(c.PublicPaths, join.CACertsPath)
}

// installNodeJoin serves the two endpoints agents join by (see package join).
func installNodeJoin(m *mux.PathRecorderMux, ca *pki.CA) {
	m.HandleFunc(join.CACertsPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(ca.CertPEM)
	})
	m.HandleFunc(join.NodeCertificatePath, func(w http.ResponseWriter, r *http.Request) {
		serveNodeCertificate(w, r, ca)
	})
}

// serveNodeCertificate signs the client certificate of a node for a request authenticated with the join
// token: the request must be for CN=system:node:<a valid node name>, O=system:nodes, and nothing more.
func serveNodeCertificate(w http.ResponseWriter, r *http.Request, ca *pki.CA) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	u, ok := request.UserFrom(r.Context())
	if !ok || !slices.Contains(u.GetGroups(), join.BootstrapGroup) {
		http.Error(w, "only the node join token may ask for a node certificate", http.StatusForbidden)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCSRBytes+1))
	if err != nil {
		http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxCSRBytes {
		http.Error(w, "certificate request too large", http.StatusRequestEntityTooLarge)
		return
	}
	csr, err := parseNodeCSR(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	certPEM, err := ca.SignClientCSR(csr)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(certPEM)
}

// parseNodeCSR reads a PEM certificate request and checks that it asks for a node's identity only.
func parseNodeCSR(body []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("the body must be a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request signature: %w", err)
	}
	name, ok := strings.CutPrefix(csr.Subject.CommonName, join.NodeUserPrefix)
	if !ok {
		return nil, fmt.Errorf("certificate request for %q: the common name must be %s<node name>", csr.Subject.CommonName, join.NodeUserPrefix)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, fmt.Errorf("certificate request: node name %q: %s", name, strings.Join(errs, "; "))
	}
	if !slices.Equal(csr.Subject.Organization, []string{join.NodesGroup}) {
		return nil, fmt.Errorf("certificate request: the organization must be %s alone, not %v", join.NodesGroup, csr.Subject.Organization)
	}
	return csr, nil
}
