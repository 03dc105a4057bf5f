package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// testCA is a self-signed anchor and an intermediate issuer signed by it.
type testCA struct {
	anchor    *x509.Certificate
	issuerPEM []byte // tls.crt
	keyPEM    []byte // tls.key
	issuer    *Issuer
}

func newTestCA(t testing.TB, name string, notAfter time.Time) *testCA {
	t.Helper()
	anchorKey := mustKey(t)
	anchorTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " anchor"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	anchorDER, err := x509.CreateCertificate(rand.Reader, anchorTmpl, anchorTmpl, anchorKey.Public(), anchorKey)
	if err != nil {
		t.Fatal(err)
	}
	anchor, _ := x509.ParseCertificate(anchorDER)
	issuerKey := mustKey(t)
	issuerTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name + " issuer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	issuerDER, err := x509.CreateCertificate(rand.Reader, issuerTmpl, anchor, issuerKey.Public(), anchorKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{
		anchor:    anchor,
		issuerPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: issuerDER}),
		keyPEM:    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	ca.issuer, err = ParseIssuer(ca.issuerPEM, ca.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func (c *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.anchor)
	return p
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// csrPEM makes a PEM CSR for key (any crypto.Signer type).
func csrPEM(t testing.TB, key any) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// parseChain decodes a PEM chain.
func parseChain(t testing.TB, chain string) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	rest := []byte(chain)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return out
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}
