// Package authn says who a request comes from: a client certificate signed by the cluster CA, a
// bearer token from the token file, or a token good on some paths only (the node join token). A request
// that proves nothing is refused (401), except on the health and version endpoints, which anyone may
// read, as upstream's public-info-viewer role allows, and on the public paths the server adds.
package authn

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
)

// publicPaths may be read without credentials.
var publicPaths = []string{"/healthz", "/livez", "/readyz", "/version"}

// Config says which credentials are accepted.
type Config struct {
	// ClientCA verifies client certificates.
	ClientCA dynamiccertificates.CAContentProvider
	// TokenAuthFile, if set, is a CSV file of token,user,uid[,"group1,group2"] lines, as upstream's
	// --token-auth-file.
	TokenAuthFile string
	// PathTokens are bearer tokens that authenticate on the paths they name and nowhere else, such as
	// the node join token, good for asking a node certificate only.
	PathTokens []PathToken
	// PublicPaths are more paths anyone may read, such as the cluster CA certificate.
	PublicPaths []string
}

// PathToken is a bearer token that authenticates as User on Paths only.
type PathToken struct {
	Token string
	User  user.Info
	Paths []string
}

// New returns the request authenticator of c.
func New(c Config) (authenticator.Request, error) {
	var all []authenticator.Request
	if c.ClientCA != nil {
		certs := x509request.NewDynamic(c.ClientCA.VerifyOptions, x509request.CommonNameUserConversion)
		all = append(all, newVerifiedCerts(certs, c.ClientCA.VerifyOptions))
	}
	if c.TokenAuthFile != "" {
		tokens, err := tokenfile.NewCSV(c.TokenAuthFile)
		if err != nil {
			return nil, fmt.Errorf("token auth file: %w", err)
		}
		all = append(all, bearertoken.New(tokens))
	}
	for _, pt := range c.PathTokens {
		all = append(all, pathToken(pt))
	}
	public := slices.Concat(publicPaths, c.PublicPaths)
	known := group.NewAuthenticatedGroupAdder(union.New(all...))
	return authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		resp, ok, err := known.AuthenticateRequest(req)
		// Credentials that fail are refused even on public paths, never taken for anonymous, as upstream.
		if ok || err != nil || !matches(public, req.URL.Path) {
			return resp, ok, err
		}
		return &authenticator.Response{User: &user.DefaultInfo{
			Name:   user.Anonymous,
			Groups: []string{user.AllUnauthenticated},
		}}, true, nil
	}), nil
}

// matches says whether path is one of paths or below one.
func matches(paths []string, path string) bool {
	for _, p := range paths {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// pathToken authenticates requests to pt's paths that carry pt's token; it does not look at others, so
// the token is refused there like any unknown one.
func pathToken(pt PathToken) authenticator.Request {
	bearer := bearertoken.New(authenticator.TokenFunc(func(_ context.Context, token string) (*authenticator.Response, bool, error) {
		if subtle.ConstantTimeCompare([]byte(token), []byte(pt.Token)) != 1 {
			return nil, false, nil
		}
		return &authenticator.Response{User: pt.User}, true, nil
	}))
	return authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		if pt.Token == "" || !slices.Contains(pt.Paths, req.URL.Path) {
			return nil, false, nil
		}
		return bearer.AuthenticateRequest(req)
	})
}
