package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func requestJSON(t testing.TB, csr, token string) []byte {
	b, err := json.Marshal(contract.CertifyRequest{CSR: csr, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseCertifyRequest(t *testing.T) {
	good := csrPEM(t, mustKey(t))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte inside the base64 of the signature area to break the signature.
	tampered := []byte(good)
	idx := len(tampered) - len("-----END CERTIFICATE REQUEST-----\n") - 10
	if tampered[idx] == 'A' {
		tampered[idx] = 'B'
	} else {
		tampered[idx] = 'A'
	}

	for _, tc := range []struct {
		name    string
		body    []byte
		wantErr string
	}{
		{"valid P-256", requestJSON(t, good, "tok"), ""},
		{"not json", []byte("{"), "json"},
		{"empty token", requestJSON(t, good, ""), "token is empty"},
		{"csr not PEM", requestJSON(t, "hello", "tok"), "not a PEM"},
		{"wrong PEM type", requestJSON(t, strings.ReplaceAll(good, "CERTIFICATE REQUEST", "CERTIFICATE"), "tok"), "not a PEM"},
		{"two CSRs", requestJSON(t, good+good, "tok"), "more than one"},
		{"RSA key", requestJSON(t, csrPEM(t, rsaKey), "tok"), "ECDSA P-256"},
		{"P-384 key", requestJSON(t, csrPEM(t, p384), "tok"), "ECDSA P-256"},
		{"bad signature", requestJSON(t, string(tampered), "tok"), "csr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCertifyRequest(tc.body)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got.Token != "tok" || got.CSR == nil {
					t.Fatalf("parsed %+v", got)
				}
				return
			}
			if err == nil || !errors.Is(err, errBadRequest) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want bad request containing %q", err, tc.wantErr)
			}
		})
	}
}

func FuzzParseCertifyRequest(f *testing.F) {
	f.Add(requestJSON(f, csrPEM(f, mustKey(f)), "token"))
	f.Add([]byte(`{"csr":"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n","token":"x"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseCertifyRequest(body)
		if err != nil {
			if !errors.Is(err, errBadRequest) {
				t.Fatalf("error not classified as bad request: %v", err)
			}
			return
		}
		// Anything accepted must be a signed P-256 CSR with a token.
		if req.Token == "" || req.CSR.CheckSignature() != nil {
			t.Fatalf("accepted an invalid request")
		}
		if k, ok := req.CSR.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
			t.Fatalf("accepted key %T", req.CSR.PublicKey)
		}
	})
}
