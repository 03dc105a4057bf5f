package tlsid

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNoIdentity means a certificate carries no SPIFFE URI SAN.
var ErrNoIdentity = errors.New("certificate has no spiffe:// URI SAN")

// PeerIdentity returns the single SPIFFE ID in a leaf's URI SANs.
func PeerIdentity(leaf *x509.Certificate) (string, error) {
	id := ""
	for _, u := range leaf.URIs {
		if u.Scheme != "spiffe" {
			continue
		}
		if id != "" {
			return "", fmt.Errorf("certificate has more than one spiffe:// URI SAN")
		}
		id = u.String()
	}
	if id == "" {
		return "", ErrNoIdentity
	}
	return id, nil
}

// InTrustDomain reports whether a SPIFFE ID belongs to trustDomain.
func InTrustDomain(id, trustDomain string) bool {
	rest, ok := strings.CutPrefix(id, "spiffe://"+trustDomain)
	return ok && strings.HasPrefix(rest, "/")
}

// VerifyChain checks that rawCerts (leaf first, then intermediates) chain to
// one of the anchors in roots and returns the parsed leaf. Key usage is not
// checked: the identity issuer decides it, and both directions accept either.
func VerifyChain(rawCerts [][]byte, roots *x509.CertPool, now func() time.Time) (*x509.Certificate, error) {
	if len(rawCerts) == 0 {
		return nil, errors.New("peer presented no certificate")
	}
	certs := make([]*x509.Certificate, 0, len(rawCerts))
	for _, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("parse peer certificate: %w", err)
		}
		certs = append(certs, c)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fmt.Errorf("peer chain not trusted: %w", err)
	}
	return certs[0], nil
}

// VerifyPeer verifies a chain and returns the peer's SPIFFE ID, refusing any
// identity outside trustDomain and, when want is set, any other identity.
func VerifyPeer(rawCerts [][]byte, roots *x509.CertPool, now func() time.Time, trustDomain, want string) (string, error) {
	leaf, err := VerifyChain(rawCerts, roots, now)
	if err != nil {
		return "", err
	}
	id, err := PeerIdentity(leaf)
	if err != nil {
		return "", err
	}
	if !InTrustDomain(id, trustDomain) {
		return "", fmt.Errorf("peer identity %q is outside trust domain %q", id, trustDomain)
	}
	if want != "" && id != want {
		return "", fmt.Errorf("peer identity %q, expected %q", id, want)
	}
	return id, nil
}
