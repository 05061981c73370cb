// Package authn says who a request comes from: a client certificate signed by the cluster CA, or a
// bearer token from the token file. A request that proves nothing is refused (401), except on the
// health and version endpoints, which anyone may read, as upstream's public-info-viewer role allows.
package authn

import (
	"fmt"
	"net/http"
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
}

// New returns the request authenticator of c.
func New(c Config) (authenticator.Request, error) {
	var all []authenticator.Request
	if c.ClientCA != nil {
		all = append(all, x509request.NewDynamic(c.ClientCA.VerifyOptions, x509request.CommonNameUserConversion))
	}
	if c.TokenAuthFile != "" {
		tokens, err := tokenfile.NewCSV(c.TokenAuthFile)
		if err != nil {
			return nil, fmt.Errorf("token auth file: %w", err)
		}
		all = append(all, bearertoken.New(tokens))
	}
	known := group.NewAuthenticatedGroupAdder(union.New(all...))
	return authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		resp, ok, err := known.AuthenticateRequest(req)
		// Credentials that fail are refused even on public paths, never taken for anonymous, as upstream.
		if ok || err != nil || !public(req.URL.Path) {
			return resp, ok, err
		}
		return &authenticator.Response{User: &user.DefaultInfo{
			Name:   user.Anonymous,
			Groups: []string{user.AllUnauthenticated},
		}}, true, nil
	}), nil
}

func public(path string) bool {
	for _, p := range publicPaths {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}
