package discovery

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Authenticator decides who a discovery caller is; an error refuses it.
type Authenticator interface {
	Authenticate(r *http.Request) (identity string, err error)
}

// errNoClientCert is returned to callers that did not present a certificate.
var errNoClientCert = errors.New("discovery serves only mesh proxies: present a workload certificate")

// MeshCertAuthenticator accepts a caller that presented, over TLS, a workload
// certificate chaining to the mesh's trust anchors with a SPIFFE ID in the
// trust domain: every proxy holds one, nothing outside the mesh does. The
// roots are read on each call, so a trust rotation needs no restart.
type MeshCertAuthenticator struct {
	// Roots returns the trust anchors now; nil refuses everyone.
	Roots       func() *x509.CertPool
	TrustDomain string
	Now         func() time.Time
}

// Authenticate verifies the peer chain the TLS handshake received. The server
// asks for (but does not verify) a client certificate, since its roots change.
func (a MeshCertAuthenticator) Authenticate(r *http.Request) (string, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", errNoClientCert
	}
	roots := a.Roots()
	if roots == nil {
		return "", errors.New("trust anchors not loaded yet")
	}
	certs := r.TLS.PeerCertificates
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	leaf := certs[0]
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: a.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return "", fmt.Errorf("client certificate not trusted: %w", err)
	}
	if len(leaf.URIs) != 1 {
		return "", errors.New("client certificate carries no single SPIFFE ID")
	}
	id := leaf.URIs[0].String()
	if rest, ok := strings.CutPrefix(id, "spiffe://"+a.TrustDomain); !ok || !strings.HasPrefix(rest, "/") {
		return "", fmt.Errorf("identity %q is outside trust domain %q", id, a.TrustDomain)
	}
	return id, nil
}

// ServerClientAuth is the TLS client-auth mode the discovery server needs: ask
// for a certificate, and let Authenticate verify it against the current roots.
const ServerClientAuth = tls.RequestClientCert
