// Package identityclient performs one certify round trip with the mesh
// identity service, the way every caller must: a fresh ECDSA P-256 key held
// only in memory, a CSR, the ServiceAccount token, a POST over TLS verified
// against the trust bundle, and the issued leaf checked to be for that key.
// The proxy (proxy/identity, renewing its workload certificate) and the
// operator (internal/operator/probe, checking that the control plane issues)
// both call it, so what the operator's gate proves is what proxies do.
package identityclient

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
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// maxResponse bounds the answer read from the service.
const maxResponse = 1 << 20

// Request is one certify round trip.
type Request struct {
	// Addr is host:port of the identity service; the host is the TLS server name.
	Addr string
	// Token is the ServiceAccount token with audience contract.IdentityTokenAudience.
	Token string
	// Identity is the SPIFFE ID put in the CSR; "" puts none (the service
	// decides the identity from the token either way).
	Identity string
	// Roots verify the service's serving certificate: the trust bundle.
	Roots *x509.CertPool
	// Transport is the base of the transport used (its dialer, mostly); it is
	// cloned, never changed. nil: a new one.
	Transport *http.Transport
	// Now is the time the service's certificate is verified at (nil: time.Now).
	Now func() time.Time
}

// Certify asks the service for a certificate and returns it with its fresh
// private key, leaf first and parsed. The caller bounds the time with ctx.
func Certify(ctx context.Context, req Request) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := CSR(key, req.Identity)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(contract.CertifyRequest{CSR: string(csr), Token: req.Token})
	if err != nil {
		return nil, err
	}
	resp, err := post(ctx, req, body)
	if err != nil {
		return nil, err
	}
	return pair(resp, key)
}

// CSR is a PEM certificate request for key, naming identity as its URI SAN
// when not empty.
func CSR(key *ecdsa.PrivateKey, identity string) ([]byte, error) {
	tmpl := &x509.CertificateRequest{}
	if identity != "" {
		u, err := url.Parse(identity)
		if err != nil {
			return nil, fmt.Errorf("identity %q: %w", identity, err)
		}
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func post(ctx context.Context, req Request, body []byte) (*contract.CertifyResponse, error) {
	host, _, err := net.SplitHostPort(req.Addr)
	if err != nil {
		return nil, fmt.Errorf("identity address %q: %w", req.Addr, err)
	}
	// A transport per request: the bundle may have rotated since the last
	// one, and requests are far apart, so a kept connection would only leak.
	tr := &http.Transport{}
	if req.Transport != nil {
		tr = req.Transport.Clone()
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: req.Roots, ServerName: host, MinVersion: tls.VersionTLS12, Time: req.Now}
	tr.ForceAttemptHTTP2 = true
	defer tr.CloseIdleConnections()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+req.Addr+contract.IdentityPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(hreq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("identity service answered %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	var out contract.CertifyResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("decode certify response: %w", err)
	}
	return &out, nil
}

// pair joins the returned chain with our key, refusing a leaf that was not
// issued for it.
func pair(resp *contract.CertifyResponse, key *ecdsa.PrivateKey) (*tls.Certificate, error) {
	var ders [][]byte
	for rest := []byte(resp.CertificateChain); ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			ders = append(ders, block.Bytes)
		}
	}
	if len(ders) == 0 {
		return nil, errors.New("certify response holds no certificate")
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		return nil, fmt.Errorf("parse issued leaf: %w", err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("issued leaf does not match the requested key")
	}
	return &tls.Certificate{Certificate: ders, PrivateKey: key, Leaf: leaf}, nil
}
