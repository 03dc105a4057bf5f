package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// backdate tolerates clock skew between the operator and the nodes.
const backdate = 5 * time.Minute

// AnchorRequest describes a trust anchor to generate.
type AnchorRequest struct {
	TrustDomain string
	Now         time.Time
	Validity    time.Duration
}

// GenerateAnchor makes a self-signed ECDSA P-256 root CA that may sign one level
// of intermediates (the issuer).
func GenerateAnchor(r AnchorRequest) (*KeyPair, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "meshkeeper trust anchor " + r.TrustDomain, Organization: []string{"meshkeeper"}},
		NotBefore:             r.Now.Add(-backdate),
		NotAfter:              r.Now.Add(r.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	return sign(tmpl, nil)
}

// IssuerRequest describes an intermediate issuer to sign with an anchor.
type IssuerRequest struct {
	Anchor      *KeyPair
	TrustDomain string
	Now         time.Time
	Validity    time.Duration
}

// GenerateIssuer makes an ECDSA P-256 intermediate CA signed by the anchor. It
// never outlives its anchor, since the chain would stop verifying anyway.
func GenerateIssuer(r IssuerRequest) (*KeyPair, error) {
	notAfter := r.Now.Add(r.Validity)
	if notAfter.After(r.Anchor.Cert.NotAfter) {
		notAfter = r.Anchor.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "meshkeeper identity issuer " + r.TrustDomain, Organization: []string{"meshkeeper"}},
		NotBefore:             r.Now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	return sign(tmpl, r.Anchor)
}

// ServingRequest describes a TLS serving certificate.
type ServingRequest struct {
	CA       *KeyPair
	DNSNames []string
	Now      time.Time
	Validity time.Duration
}

// GenerateServingCA makes a self-signed CA used only to sign serving
// certificates (the injector webhook's), kept apart from the mesh's trust.
func GenerateServingCA(commonName string, now time.Time, validity time.Duration) (*KeyPair, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"meshkeeper"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	return sign(tmpl, nil)
}

// GenerateServing makes a TLS server certificate for DNSNames signed by CA.
func GenerateServing(r ServingRequest) (*KeyPair, error) {
	if len(r.DNSNames) == 0 {
		return nil, fmt.Errorf("serving certificate needs at least one DNS name")
	}
	notAfter := r.Now.Add(r.Validity)
	if notAfter.After(r.CA.Cert.NotAfter) {
		notAfter = r.CA.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: r.DNSNames[0]},
		DNSNames:    r.DNSNames,
		NotBefore:   r.Now.Add(-backdate),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return sign(tmpl, r.CA)
}

// sign fills serial and keys, then signs tmpl with parent (self-signed when nil).
func sign(tmpl *x509.Certificate, parent *KeyPair) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signerKey)
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, Key: key, CertPEM: EncodeCertificates(cert), KeyPEM: keyPEM}, nil
}
