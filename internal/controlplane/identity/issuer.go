package identity

import (
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Issuer is a signing certificate and its key. Chain holds the issuer followed
// by any further intermediates from tls.crt; it is appended to every leaf.
type Issuer struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Chain []*x509.Certificate
	// Fingerprint is the SHA-256 of the issuer certificate, hex encoded.
	Fingerprint string
}

// IssuerSource yields the issuer to sign with now, or nil while none is loaded.
type IssuerSource interface {
	Current() *Issuer
}

// ParseIssuer builds an Issuer from PEM tls.crt (issuer first) and tls.key.
// It refuses certificates that cannot sign certificates or do not match the key.
func ParseIssuer(certPEM, keyPEM []byte) (*Issuer, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("issuer key pair: %w", err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("issuer key cannot sign")
	}
	chain := make([]*x509.Certificate, 0, len(pair.Certificate))
	for i, der := range pair.Certificate {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("issuer certificate %d: %w", i, err)
		}
		chain = append(chain, cert)
	}
	cert := chain[0]
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, errors.New("issuer certificate is not a CA")
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("issuer certificate lacks the certSign key usage")
	}
	sum := sha256.Sum256(cert.Raw)
	return &Issuer{Cert: cert, Key: signer, Chain: chain, Fingerprint: hex.EncodeToString(sum[:])}, nil
}

// chainPEM encodes leaf followed by the issuer chain.
func (i *Issuer) chainPEM(leafDER []byte) []byte {
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})
	for _, c := range i.Chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// StaticIssuer is an IssuerSource whose issuer is set by the caller; tests and
// the Secret watcher both use it as the holder of the current issuer.
type StaticIssuer struct {
	current atomic.Pointer[Issuer]

	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// NewStaticIssuer returns a source holding issuer (which may be nil).
func NewStaticIssuer(issuer *Issuer) *StaticIssuer {
	s := &StaticIssuer{}
	s.Set(issuer)
	return s
}

// Current returns the issuer set last.
func (s *StaticIssuer) Current() *Issuer { return s.current.Load() }

// Set replaces the issuer; the next certificate is signed by it. Subscribers
// are signalled when the issuer actually changed.
func (s *StaticIssuer) Set(issuer *Issuer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current.Swap(issuer) == issuer {
		return
	}
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default: // already signalled; it will read Current
		}
	}
}

// Subscribe returns a channel signalled after every change of issuer (the
// signals of a burst coalesce: read Current) and a cancel func.
func (s *StaticIssuer) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[chan struct{}]struct{}{}
	}
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}
}
