package join

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/skiffhq/skiff/internal/atomicfile"
)

// Files kept in the agent's data dir.
const (
	KubeconfigFile = "kubeconfig"
	caFile         = "pki/ca.crt"
	certFile       = "pki/node-client.crt"
	keyFile        = "pki/node-client.key"

	// renewFraction is how much of its validity a certificate may have left before the agent asks for a
	// new one at start (upstream's kubelet rotates between 70% and 90% of it).
	renewFraction  = 0.3
	requestTimeout = 30 * time.Second
	maxResponse    = 1 << 20
)

var (
	// ErrTokenRefused says the server does not take the join token.
	ErrTokenRefused = errors.New("the server refused the join token (401 Unauthorized): check --token or --token-file")
	// ErrServerUnavailable says the server could not be reached or could not answer yet: trying again
	// later may succeed.
	ErrServerUnavailable = errors.New("server unavailable")
)

// Options say where to join and as whom.
type Options struct {
	// Server is the API server's URL, https://HOST:PORT.
	Server string
	// Token is the join token, as the server's DATA/node-token holds it.
	Token string
	// NodeName is the node the certificate is for.
	NodeName string
	// Dir is the agent's data dir, where the credentials are kept.
	Dir string
}

// Bootstrap returns a client configuration of the node: the credentials kept in Dir if they are for
// this server, this node and the token's CA and valid for a while yet, else new ones obtained with the
// token and kept for next time.
func Bootstrap(ctx context.Context, opts Options) (*rest.Config, error) {
	token, err := ParseToken(opts.Token)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(opts.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server %q: want https://HOST:PORT", opts.Server)
	}
	server := strings.TrimSuffix(opts.Server, "/")
	kubeconfig := filepath.Join(opts.Dir, KubeconfigFile)
	if err := usable(kubeconfig, server, token, opts.NodeName, time.Now()); err == nil {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}

	caPEM, err := fetchCA(ctx, server, token)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate node key: %w", err)
	}
	certPEM, err := requestCertificate(ctx, server, token, caPEM, key, opts.NodeName)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode node key: %w", err)
	}
	if err := save(opts.Dir, server, caPEM, certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})); err != nil {
		return nil, err
	}
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}

// usable checks the credentials of a kubeconfig written by save.
func usable(kubeconfig, server string, token Token, nodeName string, now time.Time) error {
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		return err
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil || cfg.Clusters[ctx.Cluster] == nil || cfg.AuthInfos[ctx.AuthInfo] == nil {
		return errors.New("kubeconfig has no current context")
	}
	cluster, auth := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	if strings.TrimSuffix(cluster.Server, "/") != server {
		return fmt.Errorf("kubeconfig is for %s", cluster.Server)
	}
	caPEM, err := os.ReadFile(cluster.CertificateAuthority)
	if err != nil {
		return err
	}
	if hash, err := CAHash(caPEM); err != nil || hash != token.CAHash {
		return errors.New("kept CA is not the token's")
	}
	pair, err := tls.LoadX509KeyPair(auth.ClientCertificate, auth.ClientKey)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return err
	}
	if err := checkNodeCertificate(cert, caPEM, nodeName); err != nil {
		return err
	}
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	if cert.NotAfter.Sub(now) < time.Duration(float64(lifetime)*renewFraction) {
		return errors.New("certificate nears expiry")
	}
	return nil
}

// fetchCA reads the server's CA certificate and checks it against the token before trusting it.
func fetchCA(ctx context.Context, server string, token Token) ([]byte, error) {
	// The server cannot be verified before its CA is known; what it sends is verified by hash instead.
	client := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, Proxy: http.ProxyFromEnvironment}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+CACertsPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch the cluster CA from %s: %w: %w", server, ErrServerUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("fetch the cluster CA from %s: %w: %w", server, ErrServerUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch the cluster CA from %s: %w", server, statusError(resp))
	}
	hash, err := CAHash(body)
	if err != nil {
		return nil, fmt.Errorf("the cluster CA from %s: %w", server, err)
	}
	if hash != token.CAHash {
		return nil, fmt.Errorf("the CA certificate of %s (sha256 %s) is not the one the join token names (%s): wrong server or wrong token",
			server, hash, token.CAHash)
	}
	return body, nil
}

// requestCertificate asks the server, now trusted through caPEM, to sign a client certificate of the
// node for key.
func requestCertificate(ctx context.Context, server string, token Token, caPEM []byte, key *ecdsa.PrivateKey, nodeName string) ([]byte, error) {
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: NodeUserPrefix + nodeName, Organization: []string{NodesGroup}},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the cluster CA does not parse")
	}
	client := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, Proxy: http.ProxyFromEnvironment}}
	body := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+NodeCertificatePath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-pem-file")
	req.Header.Set("Authorization", "Bearer "+token.Secret)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("request a node certificate from %s: %w: %w", server, ErrServerUnavailable, err)
	}
	defer resp.Body.Close()
	certPEM, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("request a node certificate from %s: %w: %w", server, ErrServerUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, ErrTokenRefused
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("request a node certificate from %s: %w: %s", server, statusError(resp), strings.TrimSpace(string(certPEM)))
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("the server's answer holds no certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the server's certificate: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("the server's certificate is not for the node's key")
	}
	if err := checkNodeCertificate(cert, caPEM, nodeName); err != nil {
		return nil, fmt.Errorf("the server's certificate: %w", err)
	}
	return certPEM, nil
}

// statusError describes an answer that is not a success; a server error (a server still starting) is
// ErrServerUnavailable.
func statusError(resp *http.Response) error {
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%w: %s", ErrServerUnavailable, resp.Status)
	}
	return errors.New(resp.Status)
}

// checkNodeCertificate checks that cert is a client certificate of the node signed by the CA.
func checkNodeCertificate(cert *x509.Certificate, caPEM []byte, nodeName string) error {
	if cert.Subject.CommonName != NodeUserPrefix+nodeName || !slices.Equal(cert.Subject.Organization, []string{NodesGroup}) {
		return fmt.Errorf("certificate is for %q in %v, not node %s", cert.Subject.CommonName, cert.Subject.Organization, nodeName)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	return nil
}

// save keeps the credentials in dir and writes a kubeconfig that uses them.
func save(dir, server string, caPEM, certPEM, keyPEM []byte) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{{keyFile, keyPEM, 0o600}, {certFile, certPEM, 0o644}, {caFile, caPEM, 0o644}}
	for _, f := range files {
		if err := atomicfile.Write(filepath.Join(abs, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("keep node credentials: %w", err)
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["skiff"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: filepath.Join(abs, caFile)}
	cfg.AuthInfos["node"] = &clientcmdapi.AuthInfo{ClientCertificate: filepath.Join(abs, certFile), ClientKey: filepath.Join(abs, keyFile)}
	cfg.Contexts["skiff"] = &clientcmdapi.Context{Cluster: "skiff", AuthInfo: "node"}
	cfg.CurrentContext = "skiff"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(abs, KubeconfigFile), data, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}
