package identity

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

// backdate tolerates clocks of verifiers that run slightly behind ours.
const backdate = time.Minute

// errIssuerExpired means the issuer can no longer sign anything valid.
var errIssuerExpired = errors.New("issuer certificate has expired")

// LeafTemplate describes the certificate to sign; exactly one of the name
// fields is normally set (URI for workloads, DNS names for serving certs).
type LeafTemplate struct {
	PublicKey crypto.PublicKey
	URI       *url.URL
	DNSNames  []string
	Now       time.Time
	TTL       time.Duration
}

// Leaf is a signed certificate with its PEM chain (leaf first, then issuer chain).
type Leaf struct {
	Cert     *x509.Certificate
	ChainPEM []byte
}

// IssueLeaf signs a leaf valid from shortly before Now until
// min(Now+TTL, issuer NotAfter), usable for both client and server auth.
func IssueLeaf(issuer *Issuer, tmpl LeafTemplate) (*Leaf, error) {
	notAfter := tmpl.Now.Add(tmpl.TTL)
	if issuer.Cert.NotAfter.Before(notAfter) {
		notAfter = issuer.Cert.NotAfter
	}
	if !notAfter.After(tmpl.Now) {
		return nil, errIssuerExpired
	}
	notBefore := tmpl.Now.Add(-backdate)
	if notBefore.Before(issuer.Cert.NotBefore) {
		notBefore = issuer.Cert.NotBefore
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              tmpl.DNSNames,
	}
	if tmpl.URI != nil {
		template.URIs = []*url.URL{tmpl.URI}
	}
	if len(tmpl.DNSNames) > 0 {
		template.Subject.CommonName = tmpl.DNSNames[0]
	}
	der, err := x509.CreateCertificate(rand.Reader, template, issuer.Cert, tmpl.PublicKey, issuer.Key)
	if err != nil {
		return nil, fmt.Errorf("sign leaf: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse signed leaf: %w", err)
	}
	return &Leaf{Cert: cert, ChainPEM: issuer.chainPEM(der)}, nil
}
