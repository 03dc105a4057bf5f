package discovery

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/clock"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
)

// Reconnect backoff, reset once a snapshot arrives.
const (
	reconnectBase = 250 * time.Millisecond
	reconnectMax  = 10 * time.Second
)

// certPoll is how often a starting proxy checks for its first certificate;
// it comes within milliseconds, and discovery must follow at once.
const certPoll = 20 * time.Millisecond

// awaitCertificate waits for the workload certificate, since discovery serves
// only callers that present one: asking without it would only be refused.
func (c *Client) awaitCertificate(ctx context.Context) error {
	for c.Certs != nil && c.Certs.Current() == nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Clock.After(certPoll):
		}
	}
	return nil
}

// StaleAfter is how long a stream may stay silent (no snapshot, no
// keep-alive newline) before it is considered dead and reopened.
const StaleAfter = 3 * contract.DiscoveryKeepAlive

// Client follows the discovery stream into a Store.
type Client struct {
	// Addr is host:port of the discovery service; the host is the TLS server name.
	Addr  string
	Roots tlsid.Roots
	// Certs, when set, is presented if the service asks for a client certificate.
	Certs tlsid.CertSource
	Store *Store
	Clock clock.Clock
	Log   *slog.Logger
	// DialContext overrides how the service is reached (tests); nil dials Addr.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Run keeps a stream open until ctx ends, reconnecting with backoff. The last
// snapshot stays in force while disconnected.
func (c *Client) Run(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		got, err := c.stream(ctx)
		if got > 0 {
			attempt = 0
		}
		if ctx.Err() != nil {
			return
		}
		wait := clock.Exponential(attempt, reconnectBase, reconnectMax)
		attempt++
		c.Log.Warn("discovery stream ended; reconnecting", "err", err, "snapshots", got, "retryIn", wait.String())
		select {
		case <-ctx.Done():
			return
		case <-c.Clock.After(wait):
		}
	}
}

// stream opens one watch and applies snapshots until it breaks; it returns
// how many snapshots it applied.
func (c *Client) stream(ctx context.Context) (int, error) {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return 0, fmt.Errorf("discovery address %q: %w", c.Addr, err)
	}
	if err := c.awaitCertificate(ctx); err != nil {
		return 0, err
	}
	dial := c.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
	tlsConf := &tls.Config{RootCAs: c.Roots.Pool(), ServerName: host, MinVersion: tls.VersionTLS12, Time: c.Clock.Now}
	if c.Certs != nil {
		tlsConf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert := c.Certs.Current(); cert != nil {
				return cert, nil
			}
			return &tls.Certificate{}, nil // none yet: send no certificate
		}
	}
	tr := &http.Transport{
		TLSClientConfig:   tlsConf,
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &idleTimeoutConn{Conn: conn, timeout: StaleAfter}, nil
		},
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+c.Addr+contract.DiscoveryPath, nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return 0, fmt.Errorf("discovery answered %s: %s", resp.Status, body)
	}
	dec := json.NewDecoder(resp.Body)
	applied := 0
	for {
		var snap contract.DiscoverySnapshot
		if err := dec.Decode(&snap); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return applied, err
		}
		c.Store.Set(snap)
		applied++
		c.Log.Debug("discovery snapshot applied", "revision", snap.Revision, "pods", len(snap.Pods), "services", len(snap.Services))
	}
}

// idleTimeoutConn fails a read that waits longer than timeout, so a silent
// half-dead stream is noticed; the server's keep-alive newlines reset it.
type idleTimeoutConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleTimeoutConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}
