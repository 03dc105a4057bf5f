package identity

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestParseIssuer(t *testing.T) {
	ca := newTestCA(t, "a", time.Now().Add(time.Hour))
	other := newTestCA(t, "b", time.Now().Add(time.Hour))

	key := mustKey(t)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true}
	leafDER, _ := x509.CreateCertificate(rand.Reader, leafTmpl, leafTmpl, key.Public(), key)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	leafPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})
	leafKeyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})

	for _, tc := range []struct {
		name      string
		cert, key []byte
		wantErr   string
	}{
		{"valid", ca.issuerPEM, ca.keyPEM, ""},
		{"key of another issuer", ca.issuerPEM, other.keyPEM, "key pair"},
		{"not a CA", leafPEM, leafKeyPEM, "not a CA"},
		{"empty", nil, nil, "key pair"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := ParseIssuer(tc.cert, tc.key)
			if tc.wantErr == "" {
				if err != nil || iss.Fingerprint == "" || len(iss.Chain) != 1 {
					t.Fatalf("ParseIssuer = %+v, %v", iss, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}
