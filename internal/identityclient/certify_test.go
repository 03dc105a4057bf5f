package identityclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// issuer signs whatever CSR it is given, or misbehaves as told.
type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// otherKey makes it issue the leaf for a key of its own.
	otherKey bool
	// got is the last request.
	got contract.CertifyRequest
}

func newIssuer(t *testing.T) *issuer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "issuer"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &issuer{cert: cert, key: key}
}

func (is *issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != contract.IdentityPath || r.Method != http.MethodPost {
		http.Error(w, "wrong endpoint", http.StatusNotFound)
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&is.got); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	block, _ := pem.Decode([]byte(is.got.CSR))
	if block == nil {
		http.Error(w, "no CSR", http.StatusBadRequest)
		return
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil || csr.CheckSignature() != nil {
		http.Error(w, "bad CSR", http.StatusBadRequest)
		return
	}
	pub := csr.PublicKey
	if is.otherKey {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub = &k.PublicKey
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), URIs: csr.URIs, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, is.cert, pub, is.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.cert.Raw})...)
	_ = json.NewEncoder(w).Encode(contract.CertifyResponse{CertificateChain: string(chain), NotAfter: tmpl.NotAfter})
}

func serve(t *testing.T, h http.Handler) (addr string, roots *x509.CertPool) {
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots = x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return strings.TrimPrefix(srv.URL, "https://"), roots
}

const spiffe = "spiffe://cluster.local/ns/app/sa/web"

func TestCertifyReturnsTheLeafForItsKey(t *testing.T) {
	is := newIssuer(t)
	addr, roots := serve(t, is)
	cert, err := Certify(context.Background(), Request{Addr: addr, Token: "tok", Identity: spiffe, Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	if is.got.Token != "tok" {
		t.Fatalf("token sent = %q", is.got.Token)
	}
	if len(cert.Certificate) != 2 || cert.Leaf == nil || len(cert.Leaf.URIs) != 1 || cert.Leaf.URIs[0].String() != spiffe {
		t.Fatalf("certificate: %d DERs, leaf URIs %v", len(cert.Certificate), cert.Leaf.URIs)
	}
	key, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.Leaf.PublicKey) {
		t.Fatal("the private key returned is not the leaf's")
	}
}

func TestCertifyRefusals(t *testing.T) {
	cases := []struct {
		name    string
		handler func(*issuer) http.Handler
		roots   func(*x509.CertPool) *x509.CertPool
		want    string
	}{
		{"a leaf for another key", func(is *issuer) http.Handler { is.otherKey = true; return is }, nil, "does not match the requested key"},
		{"an error status", func(*issuer) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "token rejected", http.StatusForbidden) })
		}, nil, "403 Forbidden: token rejected"},
		{"garbage", func(*issuer) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) })
		}, nil, "decode certify response"},
		{"no certificate", func(*issuer) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"certificateChain":"nothing"}`)) })
		}, nil, "holds no certificate"},
		{"a server outside the bundle", func(is *issuer) http.Handler { return is },
			func(*x509.CertPool) *x509.CertPool { return x509.NewCertPool() }, "certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := newIssuer(t)
			addr, roots := serve(t, tc.handler(is))
			if tc.roots != nil {
				roots = tc.roots(roots)
			}
			_, err := Certify(context.Background(), Request{Addr: addr, Token: "tok", Roots: roots})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestCSRNamesTheIdentity(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, id := range []string{spiffe, ""} {
		p, err := CSR(key, id)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(p)
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		want := []*url.URL(nil)
		if id != "" {
			u, _ := url.Parse(id)
			want = []*url.URL{u}
		}
		if len(csr.URIs) != len(want) || (len(want) == 1 && csr.URIs[0].String() != id) {
			t.Fatalf("CSR URIs %v, want %v", csr.URIs, want)
		}
	}
	if _, err := CSR(key, "spiffe://bad host/%zz"); err == nil {
		t.Fatal("a malformed identity was put in a CSR")
	}
}

func TestCertifyRejectsABadAddress(t *testing.T) {
	if _, err := Certify(context.Background(), Request{Addr: "no-port"}); err == nil || !strings.Contains(err.Error(), "identity address") {
		t.Fatalf("err = %v", err)
	}
}
