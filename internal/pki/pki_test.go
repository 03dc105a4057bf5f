package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func mustAnchor(t *testing.T, validity time.Duration) *KeyPair {
	t.Helper()
	a, err := GenerateAnchor(AnchorRequest{TrustDomain: "cluster.local", Now: now, Validity: validity})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAnchorAndIssuerChainVerifies(t *testing.T) {
	anchor := mustAnchor(t, 365*24*time.Hour)
	issuer, err := GenerateIssuer(IssuerRequest{Anchor: anchor, TrustDomain: "cluster.local", Now: now, Validity: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyIssuedBy(issuer.Cert, anchor.Cert, now); err != nil {
		t.Fatalf("issuer does not chain to anchor: %v", err)
	}
	// A leaf signed by the issuer must verify against the anchor alone, the way proxies verify.
	leaf := leafSignedBy(t, issuer)
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(anchor.Cert)
	inter.AddCert(issuer.Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now}); err != nil {
		t.Fatalf("leaf does not verify through the issuer: %v", err)
	}
	if got, want := anchor.Cert.NotAfter.Sub(now), 365*24*time.Hour; got != want {
		t.Errorf("anchor lifetime %s, want %s", got, want)
	}
	if got, want := issuer.Cert.NotAfter.Sub(now), 30*24*time.Hour; got != want {
		t.Errorf("issuer lifetime %s, want %s", got, want)
	}
	if _, ok := anchor.Cert.PublicKey.(*ecdsa.PublicKey); !ok || anchor.Key.Curve != elliptic.P256() {
		t.Errorf("anchor key is not ECDSA P-256")
	}
	if !issuer.Cert.IsCA || !issuer.Cert.MaxPathLenZero {
		t.Errorf("issuer must be a CA with pathLen 0")
	}
}

func TestIssuerNeverOutlivesAnchor(t *testing.T) {
	anchor := mustAnchor(t, time.Hour)
	issuer, err := GenerateIssuer(IssuerRequest{Anchor: anchor, Now: now, Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !issuer.Cert.NotAfter.Equal(anchor.Cert.NotAfter) {
		t.Fatalf("issuer NotAfter %s, want clamped to anchor %s", issuer.Cert.NotAfter, anchor.Cert.NotAfter)
	}
}

func TestParseKeyPairRoundTripAndMismatch(t *testing.T) {
	a, b := mustAnchor(t, time.Hour), mustAnchor(t, time.Hour)
	kp, err := ParseKeyPair(a.CertPEM, a.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(kp.Cert) != Fingerprint(a.Cert) || len(Fingerprint(a.Cert)) != 64 {
		t.Fatalf("fingerprint changed across a round trip")
	}
	if _, err := ParseKeyPair(a.CertPEM, b.KeyPEM); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched key accepted: %v", err)
	}
	if _, err := ParseKeyPair([]byte("junk"), a.KeyPEM); err == nil {
		t.Fatal("junk certificate accepted")
	}
}

func TestValidateAnchor(t *testing.T) {
	good := mustAnchor(t, time.Hour)
	expired, _ := GenerateAnchor(AnchorRequest{Now: now.Add(-2 * time.Hour), Validity: time.Hour})
	servingCA, _ := GenerateServingCA("webhook", now, time.Hour)
	notCA, _ := GenerateServing(ServingRequest{CA: good, DNSNames: []string{"x"}, Now: now, Validity: time.Hour})
	cases := []struct {
		name    string
		kp      *KeyPair
		wantErr string
	}{
		{"valid generated anchor", good, ""},
		{"expired", expired, "expired"},
		{"not a CA", notCA, "not a CA"},
		{"pathLen 0 cannot sign an issuer", servingCA, "pathLen 0"},
		{"not yet valid", good, "not valid before"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at := now
			if tc.name == "not yet valid" {
				at = now.Add(-time.Hour)
			}
			err := ValidateAnchor(tc.kp, at)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestServingCertificate(t *testing.T) {
	ca, err := GenerateServingCA("meshkeeper webhook CA", now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := GenerateServing(ServingRequest{CA: ca, DNSNames: []string{"svc.ns.svc"}, Now: now, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := srv.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "svc.ns.svc", CurrentTime: now}); err != nil {
		t.Fatalf("serving cert does not verify: %v", err)
	}
	if _, err := GenerateServing(ServingRequest{CA: ca, Now: now, Validity: time.Hour}); err == nil {
		t.Fatal("serving cert without DNS names accepted")
	}
}

func TestRenewalTime(t *testing.T) {
	a := mustAnchor(t, 10*time.Hour)
	if got, want := RenewalTime(a.Cert, time.Hour), a.Cert.NotAfter.Add(-time.Hour); !got.Equal(want) {
		t.Errorf("renewal %s, want %s", got, want)
	}
	life := a.Cert.NotAfter.Sub(a.Cert.NotBefore)
	if got, want := RenewalTime(a.Cert, 100*time.Hour), a.Cert.NotBefore.Add(life/2); !got.Equal(want) {
		t.Errorf("renewal with renewBefore beyond life %s, want half-life %s", got, want)
	}
}

func TestParseCertificatesBundle(t *testing.T) {
	a, b := mustAnchor(t, time.Hour), mustAnchor(t, time.Hour)
	certs, err := ParseCertificates(EncodeCertificates(a.Cert, b.Cert))
	if err != nil || len(certs) != 2 || Fingerprint(certs[1]) != Fingerprint(b.Cert) {
		t.Fatalf("bundle round trip: %v, %d certs", err, len(certs))
	}
}

func leafSignedBy(t *testing.T, ca *KeyPair) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}
