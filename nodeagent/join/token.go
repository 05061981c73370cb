// Package join is how a node agent joins a cluster with a token, and the protocol `skiff server` and
// `skiff agent` share for it.
//
// The server keeps a join token in DATA/node-token:
//
//	K10<sha256 of the cluster CA certificate, hex>::node:<secret>
//
// (the shape of k3s's tokens). The agent, given the server's URL and the token:
//
//  1. fetches the CA certificate from CACertsPath, which anyone may read, over TLS it cannot verify yet,
//     and checks it against the token's hash (the SHA-256 of the certificate's DER bytes, as
//     `openssl x509 -outform der | sha256sum` prints it): now it trusts the server;
//  2. POSTs a certificate request for CN=system:node:<node name>, O=system:nodes to
//     NodeCertificatePath with the token's secret as bearer token, and gets the certificate signed by the
//     cluster CA;
//  3. keeps its key, the certificate, the CA and a kubeconfig in its data dir, and uses them at its next
//     starts until they near expiry, when it asks again.
//
// The secret authenticates as BootstrapUser in BootstrapGroup on NodeCertificatePath only: it is good for
// nothing else.
package join

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// The protocol's paths and identities.
const (
	// CACertsPath serves the cluster CA certificate, PEM encoded, to anyone.
	CACertsPath = "/cacerts"
	// NodeCertificatePath takes a POSTed PEM certificate request of a node and answers with the signed
	// PEM certificate.
	NodeCertificatePath = "/skiff/v1/node-certificate"
	// BootstrapUser is who a request with the join token's secret is, in group BootstrapGroup.
	BootstrapUser  = "system:node-bootstrap"
	BootstrapGroup = "system:bootstrappers"
	// NodeUserPrefix and NodesGroup make a node's identity: system:node:<name> in system:nodes.
	NodeUserPrefix = "system:node:"
	NodesGroup     = "system:nodes"

	tokenPrefix   = "K10"
	tokenUserPart = "::node:"
	secretBytes   = 32
)

// Token is a join token: the hash of the CA to trust and the secret to show.
type Token struct {
	// CAHash is the hex SHA-256 of the cluster CA certificate's DER bytes.
	CAHash string
	// Secret is the bearer token that may ask for a node certificate.
	Secret string
}

// NewToken makes a token with a new random secret for the CA certificate caPEM.
func NewToken(caPEM []byte) (Token, error) {
	hash, err := CAHash(caPEM)
	if err != nil {
		return Token{}, err
	}
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return Token{}, fmt.Errorf("join token secret: %w", err)
	}
	return Token{CAHash: hash, Secret: hex.EncodeToString(b)}, nil
}

// String is the token as users pass it: K10<hash>::node:<secret>.
func (t Token) String() string { return tokenPrefix + t.CAHash + tokenUserPart + t.Secret }

// ParseToken reads a token, ignoring surrounding white space (a token file's newline).
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return Token{}, errors.New("not a join token: it must look like K10<CA hash>::node:<secret>")
	}
	hash, secret, ok := strings.Cut(rest, tokenUserPart)
	if !ok || secret == "" {
		return Token{}, errors.New("not a join token: it must look like K10<CA hash>::node:<secret>")
	}
	if b, err := hex.DecodeString(hash); err != nil || len(b) != sha256.Size {
		return Token{}, errors.New("join token: the CA hash is not a hex SHA-256")
	}
	if strings.ContainsAny(secret, " \t\r\n:") {
		return Token{}, errors.New("join token: the secret has white space or colons")
	}
	return Token{CAHash: strings.ToLower(hash), Secret: secret}, nil
}

// MatchesSecret says, in constant time, whether secret is the token's.
func (t Token) MatchesSecret(secret string) bool {
	return subtle.ConstantTimeCompare([]byte(secret), []byte(t.Secret)) == 1
}

// CAHash is the hex SHA-256 of the DER bytes of the first certificate in caPEM.
func CAHash(caPEM []byte) (string, error) {
	for rest := caPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return "", errors.New("no PEM certificate in the CA data")
		}
		if block.Type == "CERTIFICATE" {
			sum := sha256.Sum256(block.Bytes)
			return hex.EncodeToString(sum[:]), nil
		}
	}
}
