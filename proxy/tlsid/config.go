package tlsid

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// MuxALPN is offered, before contract.ALPN, by a proxy that wants to carry
// HTTP between the two proxies multiplexed over one HTTP/2 connection (see
// package upstream). A peer that selects it speaks that; a proxy that only
// knows contract.ALPN selects that one, and the client falls back to one
// connection per request in the application's own protocol.
const MuxALPN = "meshkeeper/1-h2"

// OpaqueALPN is offered, before contract.ALPN, by a proxy that relays an
// opaque stream (an opaque port, or a client that sent nothing HTTP): the
// peer proxy that selects it relays the tunnel to its application at once,
// without waiting out protocol detection a second time, so a
// server-speaks-first protocol's banner is not held up. A proxy that only
// knows contract.ALPN selects that one and detects as before.
const OpaqueALPN = "meshkeeper/1-opaque"

// ErrNoCertificate means the proxy has not obtained its certificate yet.
var ErrNoCertificate = errors.New("no workload certificate issued yet")

// CertSource yields the workload certificate to present now, nil until the
// first one is issued. Renewals swap it; new handshakes pick it up at once.
type CertSource interface {
	Current() *tls.Certificate
}

// Roots yields the trust anchors to verify peers with now.
type Roots interface {
	Pool() *x509.CertPool
}

// Mesh carries what every mesh handshake needs.
type Mesh struct {
	Certs       CertSource
	Roots       Roots
	TrustDomain string
	// Now is the verification clock; nil means time.Now.
	Now func() time.Time
}

func (m Mesh) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

func (m Mesh) current() (*tls.Certificate, error) {
	if c := m.Certs.Current(); c != nil {
		return c, nil
	}
	return nil, ErrNoCertificate
}

// ServerConfig terminates mesh mTLS: TLS 1.3 only, ALPN MuxALPN when the
// client offers it, else contract.ALPN, and a client certificate that chains
// to the bundle with an identity in our trust domain is required.
func (m Mesh) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{MuxALPN, OpaqueALPN, contract.ALPN},
		ClientAuth: tls.RequireAnyClientCert,
		Time:       m.now,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return m.current()
		},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := VerifyPeer(raw, m.Roots.Pool(), m.now, m.TrustDomain, "")
			return err
		},
	}
}

// ClientConfig originates mesh mTLS to a peer that must prove exactly the
// identity want (as advertised by discovery). Go's hostname verification is
// replaced by VerifyPeer because mesh peers are named by URI SAN, not DNS.
func (m Mesh) ClientConfig(want string) *tls.Config {
	return m.clientConfig(want, contract.ALPN)
}

// MuxClientConfig is ClientConfig offering MuxALPN first.
func (m Mesh) MuxClientConfig(want string) *tls.Config {
	return m.clientConfig(want, MuxALPN, contract.ALPN)
}

// OpaqueClientConfig is ClientConfig offering OpaqueALPN first.
func (m Mesh) OpaqueClientConfig(want string) *tls.Config {
	return m.clientConfig(want, OpaqueALPN, contract.ALPN)
}

func (m Mesh) clientConfig(want string, protos ...string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         protos,
		InsecureSkipVerify: true, //nolint:gosec // VerifyPeerCertificate below does the full verification.
		Time:               m.now,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return m.current()
		},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := VerifyPeer(raw, m.Roots.Pool(), m.now, m.TrustDomain, want)
			return err
		},
	}
}

// HandshakePeer returns the verified SPIFFE ID of the peer of a completed
// mesh handshake, refusing a connection that negotiated neither
// contract.ALPN, MuxALPN nor OpaqueALPN.
func HandshakePeer(cs tls.ConnectionState) (string, error) {
	switch cs.NegotiatedProtocol {
	case contract.ALPN, MuxALPN, OpaqueALPN:
	default:
		return "", errors.New("peer did not negotiate the mesh ALPN")
	}
	if len(cs.PeerCertificates) == 0 {
		return "", errors.New("peer presented no certificate")
	}
	return PeerIdentity(cs.PeerCertificates[0])
}
