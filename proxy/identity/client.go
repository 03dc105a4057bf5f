// Package identity obtains and renews the proxy's workload certificate from
// the mesh identity service. The private key is generated in memory for every
// request and never leaves the process.
package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/identityclient"
	"github.com/meshkeeper/meshkeeper/proxy/clock"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
)

// requestTimeout bounds one certify round trip.
const requestTimeout = 10 * time.Second

// HastenWindow spreads the early renewals a changed issuer triggers: each
// proxy waits a uniform fraction of it, so a fleet does not stampede the
// identity service when discovery advertises a new issuer to all at once.
const HastenWindow = 2 * time.Second

// Client keeps a valid workload certificate in memory.
type Client struct {
	// Addr is host:port of the identity service; the host is the TLS server name.
	Addr string
	// TokenPath is re-read for every request because kubelet rotates the token.
	TokenPath string
	// Identity is the SPIFFE ID requested in the CSR (the service decides the
	// issued identity from the token; this only documents the intent).
	Identity string
	Roots    tlsid.Roots
	Clock    clock.Clock
	Log      *slog.Logger
	// Jitter returns a uniform value in [0,1); nil uses math/rand.
	Jitter func() float64
	// DialContext overrides how the service is reached (tests); nil dials Addr.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	current atomic.Pointer[tls.Certificate]
	issuer  atomic.Pointer[string]

	// advertised is the issuer discovery says the identity service signs
	// with now; nudge wakes Run when it changes.
	advertised atomic.Pointer[string]
	nudgeOnce  sync.Once
	nudgeCh    chan struct{}
	// hastened is the advertised issuer that last triggered an early renewal
	// (Run's goroutine only): at most one per distinct issuer.
	hastened string
}

// Current is the certificate to present now, nil until the first is issued.
func (c *Client) Current() *tls.Certificate { return c.current.Load() }

// IssuerLabel is the SHA-256 hex of the current certificate's issuer, "" before one is issued.
func (c *Client) IssuerLabel() string {
	if p := c.issuer.Load(); p != nil {
		return *p
	}
	return ""
}

// AdvertisedIssuer tells the client which issuer (SHA-256 hex fingerprint)
// the identity service signs with now, as discovery snapshots advertise it.
// When it differs from the issuer of the current certificate, Run renews
// within HastenWindow instead of waiting for 70% of the lifetime. Empty
// means unknown and is ignored. Safe to call from any goroutine.
func (c *Client) AdvertisedIssuer(fingerprint string) {
	if fingerprint == "" {
		return
	}
	if prev := c.advertised.Swap(&fingerprint); prev != nil && *prev == fingerprint {
		return
	}
	select {
	case c.nudge() <- struct{}{}:
	default: // Run is already due to look
	}
}

func (c *Client) nudge() chan struct{} {
	c.nudgeOnce.Do(func() { c.nudgeCh = make(chan struct{}, 1) })
	return c.nudgeCh
}

// hastenTo returns the advertised issuer to renew for early, or "" when the
// current certificate already comes from it, none is held yet, or an early
// renewal was already made for it.
func (c *Client) hastenTo() string {
	adv := c.advertised.Load()
	label := c.IssuerLabel()
	if adv == nil || label == "" || *adv == label || *adv == c.hastened {
		return ""
	}
	return *adv
}

// Run obtains a certificate, then renews it before expiry until ctx ends.
// A newly advertised issuer (AdvertisedIssuer) brings the renewal forward.
func (c *Client) Run(ctx context.Context) {
	attempt := 0
	for {
		var wait time.Duration
		cert, err := c.Certify(ctx)
		now := c.Clock.Now()
		if err != nil {
			wait = Backoff(attempt)
			attempt++
			c.Log.Warn("certificate request failed", "err", err, "retryIn", wait.String())
		} else {
			attempt = 0
			c.store(cert)
			wait = RenewAt(now, cert.Leaf.NotAfter, c.jitter()).Sub(now)
			c.Log.Info("certificate issued", "identity", c.Identity, "notAfter", cert.Leaf.NotAfter,
				"issuer", c.IssuerLabel(), "renewIn", wait.String())
		}
		if !c.sleep(ctx, wait) {
			return
		}
	}
}

// sleep waits for d, cut short to a jittered fraction of HastenWindow when
// the advertised issuer differs from the current certificate's. It reports
// false when ctx ended.
func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	due := c.Clock.After(d)
	for {
		if target := c.hastenTo(); target != "" {
			c.hastened = target
			early := time.Duration(c.jitter() * float64(HastenWindow))
			if early < d {
				c.Log.Info("identity service signs with another issuer; renewing early",
					"certificateIssuer", c.IssuerLabel(), "advertisedIssuer", target, "renewIn", early.String())
				due = c.Clock.After(early)
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-due:
			return true
		case <-c.nudge():
		}
	}
}

func (c *Client) store(cert *tls.Certificate) {
	label := ""
	if len(cert.Certificate) > 1 {
		if issuer, err := x509.ParseCertificate(cert.Certificate[1]); err == nil {
			label = tlsid.Fingerprint(issuer)
		}
	}
	c.issuer.Store(&label)
	c.current.Store(cert)
}

func (c *Client) jitter() float64 {
	if c.Jitter != nil {
		return c.Jitter()
	}
	return mrand.Float64()
}

// Certify performs one request with a fresh key and returns the certificate.
func (c *Client) Certify(ctx context.Context) (*tls.Certificate, error) {
	token, err := os.ReadFile(c.TokenPath)
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return identityclient.Certify(ctx, identityclient.Request{
		Addr: c.Addr, Token: strings.TrimSpace(string(token)), Identity: c.Identity,
		Roots: c.Roots.Pool(), Transport: &http.Transport{DialContext: c.DialContext}, Now: c.Clock.Now,
	})
}
