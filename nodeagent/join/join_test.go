package join_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffhq/skiff/nodeagent/join"
	"github.com/skiffhq/skiff/testenv"
)

func TestParseToken(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in      string
		ok      bool
		secret  string
		comment string
	}{
		{"K10" + hash + "::node:s3cret", true, "s3cret", "plain"},
		{"  K10" + hash + "::node:s3cret\n", true, "s3cret", "a file's white space"},
		{"K10" + strings.ToUpper(hash) + "::node:s3cret", true, "s3cret", "upper-case hash"},
		{"s3cret", false, "", "a bare secret names no CA"},
		{"K10" + hash[:10] + "::node:s3cret", false, "", "short hash"},
		{"K10" + hash + "::node:", false, "", "no secret"},
		{"K10" + hash + "::server:s3cret", false, "", "not a node token"},
		{"K10" + hash + "::node:s3 cret", false, "", "white space in the secret"},
	} {
		tok, err := join.ParseToken(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s: ParseToken(%q) error %v, want ok=%v", tc.comment, tc.in, err, tc.ok)
			continue
		}
		if tc.ok && (tok.Secret != tc.secret || tok.CAHash != hash) {
			t.Errorf("%s: token %+v", tc.comment, tok)
		}
		if tc.ok && tok.String() != "K10"+hash+"::node:"+tc.secret {
			t.Errorf("%s: String() = %q", tc.comment, tok.String())
		}
	}
}

// serverToken reads the join token the server wrote.
func serverToken(t *testing.T, env *testenv.Env) join.Token {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.DataDir, "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := join.ParseToken(string(data))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestBootstrapGetsANodeCertificateAndKeepsIt(t *testing.T) {
	env := testenv.New(t)
	token := serverToken(t, env)
	dir := t.TempDir()
	ctx := context.Background()
	opts := join.Options{Server: env.Config.Host, Token: token.String(), NodeName: "worker-1", Dir: dir}

	cfg, err := join.Bootstrap(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the node's credentials are refused: %v", err)
	}
	if u := review.Status.UserInfo; u.Username != "system:node:worker-1" || !slices.Contains(u.Groups, "system:nodes") {
		t.Errorf("the server takes the node for %q in %v", u.Username, u.Groups)
	}

	key := filepath.Join(dir, "pki", "node-client.key")
	if info, err := os.Stat(key); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v", err, info.Mode())
	}
	if _, err := os.Stat(filepath.Join(dir, join.KubeconfigFile)); err != nil {
		t.Errorf("no kubeconfig kept: %v", err)
	}
	certPath := filepath.Join(dir, "pki", "node-client.crt")
	first, _ := os.ReadFile(certPath)
	block, _ := pem.Decode(first)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || cert.Subject.CommonName != "system:node:worker-1" || !slices.Equal(cert.Subject.Organization, []string{"system:nodes"}) {
		t.Fatalf("certificate subject %v, %v", cert.Subject, err)
	}

	// The next start reuses the credentials, even with a token the server would refuse.
	reuse := opts
	reuse.Token = join.Token{CAHash: token.CAHash, Secret: "wrong"}.String()
	if _, err := join.Bootstrap(ctx, reuse); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if again, _ := os.ReadFile(certPath); !bytes.Equal(again, first) {
		t.Error("the certificate was requested again although the kept one is good")
	}

	// Another node name needs another certificate.
	renamed := opts
	renamed.NodeName = "worker-2"
	if _, err := join.Bootstrap(ctx, renamed); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(certPath); bytes.Equal(again, first) {
		t.Error("the certificate of worker-1 was kept for worker-2")
	}
}

func TestBootstrapRefusesAWrongTokenOrAnotherCA(t *testing.T) {
	env := testenv.New(t)
	token := serverToken(t, env)
	ctx := context.Background()

	wrong := join.Token{CAHash: token.CAHash, Secret: "not-the-secret"}
	_, err := join.Bootstrap(ctx, join.Options{Server: env.Config.Host, Token: wrong.String(), NodeName: "n", Dir: t.TempDir()})
	if !errors.Is(err, join.ErrTokenRefused) {
		t.Errorf("wrong secret: %v, want ErrTokenRefused", err)
	}

	otherCA := join.Token{CAHash: strings.Repeat("00", 32), Secret: token.Secret}
	dir := t.TempDir()
	_, err = join.Bootstrap(ctx, join.Options{Server: env.Config.Host, Token: otherCA.String(), NodeName: "n", Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "not the one the join token names") {
		t.Errorf("another CA: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("credentials kept after a failed join: %v", entries)
	}

	for _, server := range []string{"http://" + strings.TrimPrefix(env.Config.Host, "https://"), "not a url"} {
		if _, err := join.Bootstrap(ctx, join.Options{Server: server, Token: token.String(), NodeName: "n", Dir: t.TempDir()}); err == nil {
			t.Errorf("server %q accepted", server)
		}
	}
}

func TestBootstrapSaysWhenTheServerIsNotThereYet(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	token := join.Token{CAHash: strings.Repeat("ab", 32), Secret: "s"}
	_, err = join.Bootstrap(context.Background(), join.Options{Server: "https://" + addr, Token: token.String(), NodeName: "n", Dir: t.TempDir()})
	if !errors.Is(err, join.ErrServerUnavailable) {
		t.Errorf("closed port: %v, want ErrServerUnavailable", err)
	}
}
