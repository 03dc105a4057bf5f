package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// ServingDNSNames are the names the identity and discovery Services answer to
// in namespace ns; one serving certificate covers both.
func ServingDNSNames(ns string) []string {
	var names []string
	for _, svc := range []string{contract.IdentityServiceName, contract.DiscoveryServiceName} {
		names = append(names, svc+"."+ns+".svc", svc+"."+ns+".svc.cluster.local")
	}
	return names
}

// ServingCert issues the server's own certificate from the current issuer on
// demand, and again whenever the issuer changes or half the lifetime passed,
// so a trust rotation reaches the serving chain without a restart.
type ServingCert struct {
	issuers  IssuerSource
	clock    clock.PassiveClock
	ttl      time.Duration
	dnsNames []string

	mu      sync.Mutex
	current *tls.Certificate
	issuer  string    // fingerprint of the issuer that signed current
	renewAt time.Time // when current should be replaced
}

// NewServingCert returns a ServingCert for dnsNames with lifetime ttl.
func NewServingCert(issuers IssuerSource, clk clock.PassiveClock, ttl time.Duration, dnsNames []string) *ServingCert {
	return &ServingCert{issuers: issuers, clock: clk, ttl: ttl, dnsNames: dnsNames}
}

// GetCertificate is a tls.Config hook.
func (s *ServingCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.Certificate()
}

// Certificate returns a valid serving certificate, issuing one if needed.
func (s *ServingCert) Certificate() (*tls.Certificate, error) {
	issuer := s.issuers.Current()
	if issuer == nil {
		return nil, errors.New("no issuer loaded yet")
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && s.issuer == issuer.Fingerprint && now.Before(s.renewAt) {
		return s.current, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("serving key: %w", err)
	}
	leaf, err := IssueLeaf(issuer, LeafTemplate{PublicKey: key.Public(), DNSNames: s.dnsNames, Now: now, TTL: s.ttl})
	if err != nil {
		return nil, err
	}
	cert := &tls.Certificate{PrivateKey: key, Leaf: leaf.Cert, Certificate: [][]byte{leaf.Cert.Raw}}
	for _, c := range issuer.Chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	s.current, s.issuer = cert, issuer.Fingerprint
	s.renewAt = now.Add(leaf.Cert.NotAfter.Sub(now) / 2)
	return cert, nil
}

// TLSConfig is a server configuration that serves this certificate.
func (s *ServingCert) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.GetCertificate}
}
