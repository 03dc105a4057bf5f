package probe

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/pki"
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
	key, csr, err := probeCSR(want)
	if err != nil {
		return err
	}
	body, err := json.Marshal(contract.CertifyRequest{CSR: string(csr), Token: tr.Status.Token})
	if err != nil {
		return err
	}
	host := contract.IdentityServiceName + "." + controlPlaneNS + ".svc"
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	transport := p.Transport
	if transport == nil {
		transport = &http.Transport{}
	}
	transport = transport.Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
	// A transport per probe: keeping its connection alive would only leak it.
	transport.DisableKeepAlives = true
	u := url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(contract.IdentityPort)), Path: contract.IdentityPath}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return fmt.Errorf("identity service not issuing: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("identity service not issuing: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("identity service not issuing: %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	var out contract.CertifyResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return fmt.Errorf("identity service answered garbage: %w", err)
	}
	return verifyIssued([]byte(out.CertificateChain), &key.PublicKey, want, pool)
}

func probeCSR(spiffeID string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	id, err := url.Parse(spiffeID)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{id}}, key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// verifyIssued checks an issued chain: leaf for our key and SPIFFE ID,
// verifying to the trust bundle through the intermediates that follow it.
func verifyIssued(chainPEM []byte, pub *ecdsa.PublicKey, want string, roots *x509.CertPool) error {
	certs, err := pki.ParseCertificates(chainPEM)
	if err != nil || len(certs) == 0 {
		return fmt.Errorf("identity service issued no certificate: %v", err)
	}
	leaf := certs[0]
	if got, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || !got.Equal(pub) {
		return fmt.Errorf("identity service issued a certificate for another key")
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want {
		return fmt.Errorf("identity service issued %v, want %s", leaf.URIs, want)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("identity service issued a certificate that does not verify to the trust bundle: %w", err)
	}
	return nil
}
