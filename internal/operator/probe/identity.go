package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strconv"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/identityclient"
)

// probeTokenSeconds is the shortest lifetime the API server grants a token.
const probeTokenSeconds = 600

// IdentityIssuance checks that the identity service issues certificates: it
// asks for one exactly as a proxy does — a CSR for a key held in memory and a
// ServiceAccount token with the identity audience, here minted for the
// operator's own ServiceAccount — and verifies the chain against the trust
// bundle and the SPIFFE ID. The key is discarded: the certificate proves
// issuance and is never used.
type IdentityIssuance struct {
	Client client.Client
	// Namespace and ServiceAccount are the operator's own.
	Namespace, ServiceAccount string
	// Transport reaches the identity Service (nil: a default transport).
	Transport *http.Transport
}

// Probe returns nil when the identity service of the control plane in
// controlPlaneNS issued a certificate for trustDomain chaining to roots.
func (p IdentityIssuance) Probe(ctx context.Context, controlPlaneNS, trustDomain string, roots []*x509.Certificate) error {
	if p.Namespace == "" || p.ServiceAccount == "" {
		return fmt.Errorf("identity probe: the operator's namespace and ServiceAccount are unknown")
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.ServiceAccount}}
	tr := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{
		Audiences: []string{contract.IdentityTokenAudience}, ExpirationSeconds: ptr.To[int64](probeTokenSeconds)}}
	if err := p.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return fmt.Errorf("identity probe: token for %s/%s: %w", p.Namespace, p.ServiceAccount, err)
	}
	want := contract.SPIFFEID(trustDomain, p.Namespace, p.ServiceAccount)
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	host := contract.IdentityServiceName + "." + controlPlaneNS + ".svc"
	cert, err := identityclient.Certify(ctx, identityclient.Request{
		Addr: net.JoinHostPort(host, strconv.Itoa(contract.IdentityPort)), Token: tr.Status.Token,
		Identity: want, Roots: pool, Transport: p.Transport,
	})
	if err != nil {
		return fmt.Errorf("identity service not issuing: %w", err)
	}
	return verifyIssued(cert, want, pool)
}

// verifyIssued checks an issued certificate (already known to be for our
// key): the SPIFFE ID asked for, verifying to the trust bundle through the
// intermediates that follow the leaf.
func verifyIssued(cert *tls.Certificate, want string, roots *x509.CertPool) error {
	leaf := cert.Leaf
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want {
		return fmt.Errorf("identity service issued %v, want %s", leaf.URIs, want)
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("identity service issued an unreadable chain: %w", err)
		}
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("identity service issued a certificate that does not verify to the trust bundle: %w", err)
	}
	return nil
}
