package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestVersionCommand(t *testing.T) {
	out, err := exec.Command(skiffBin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("skiff version: %v\n%s", err, out)
	}
	contains(t, string(out), "skiff version v1.37")
}

func TestDataSurvivesKill9(t *testing.T) {
	c := startCluster(t)
	c.kubectl("create", "namespace", "keep")
	c.kubectl("create", "configmap", "precious", "-n", "keep", "--from-literal=k=v")
	ip := c.kubectl("create", "service", "nodeport", "svc", "-n", "keep", "--tcp=80:8080", "-o", "jsonpath={.spec.clusterIP}")
	c.kill()
	c.start()
	if got := c.kubectl("get", "configmap", "precious", "-n", "keep", "-o", "jsonpath={.data.k}"); got != "v" {
		t.Errorf("configmap after kill -9 = %q", got)
	}
	if got := c.kubectl("get", "service", "svc", "-n", "keep", "-o", "jsonpath={.spec.clusterIP}"); got != ip {
		t.Errorf("service ClusterIP after kill -9 = %q, want %q", got, ip)
	}
}

func TestAuthentication(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.csv")
	os.WriteFile(tokens, []byte("t0ps3cret,alice,1001,\"devs,ops\"\n"), 0o600)
	c := &cluster{t: t, dataDir: t.TempDir(), port: freePort(t), extraArgs: []string{"--token-auth-file", tokens}}
	c.start()
	t.Cleanup(c.stop)

	ca, err := os.ReadFile(filepath.Join(c.dataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d%s", c.port, path), nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, path := range []string{"/healthz", "/livez", "/readyz", "/version"} {
		if code, body := get(path, ""); code != http.StatusOK {
			t.Errorf("anonymous GET %s = %d %s, want 200", path, code, body)
		}
	}
	for _, path := range []string{"/api/v1/namespaces", "/apis", "/openapi/v2", "/metrics"} {
		if code, _ := get(path, ""); code != http.StatusUnauthorized {
			t.Errorf("anonymous GET %s = %d, want 401", path, code)
		}
	}
	if code, _ := get("/api/v1/namespaces", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("bad token = %d, want 401", code)
	}
	if code, body := get("/api/v1/namespaces", "t0ps3cret"); code != http.StatusOK || !strings.Contains(body, "kube-system") {
		t.Errorf("token from the token file = %d, want 200", code)
	}
	tokenConfig := filepath.Join(dir, "token.kubeconfig")
	os.WriteFile(tokenConfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:%d", certificate-authority: %q}}]
users: [{name: alice, user: {token: t0ps3cret}}]
contexts: [{name: c, context: {cluster: c, user: alice}}]
current-context: c
`, c.port, filepath.Join(c.dataDir, "tls", "ca.crt"))), 0o600)
	out, err := exec.Command("kubectl", "--kubeconfig", tokenConfig, "auth", "whoami").CombinedOutput()
	if err != nil {
		t.Fatalf("whoami with a token: %v\n%s", err, out)
	}
	contains(t, string(out), "alice", "devs", "ops", "system:authenticated")
}
