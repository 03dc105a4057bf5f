package probe

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"
)

// DefaultIdentityPace is how long an identity probe's answer is reused. The
// identity service limits every caller address to 1 certify request per
// second (burst 10); the operator is one caller, and a busy reconciler (pod
// events, a failing gate retried) would otherwise spend that budget, get 429
// and report the control plane as not issuing when it is.
const DefaultIdentityPace = 2 * time.Second

// PacedIdentity asks its prober at most once per Pace for the same control
// plane, trust domain and roots, and answers with the last result meanwhile.
type PacedIdentity struct {
	Prober IdentityProber
	Pace   time.Duration
	Now    func() time.Time

	mu   sync.Mutex
	key  [sha256.Size]byte
	at   time.Time
	err  error
	have bool
}

// Probe implements IdentityProber.
func (p *PacedIdentity) Probe(ctx context.Context, controlPlaneNS, trustDomain string, roots []*x509.Certificate) error {
	key := identityKey(controlPlaneNS, trustDomain, roots)
	p.mu.Lock()
	defer p.mu.Unlock() // one probe at a time: concurrent callers share its answer
	now := p.Now()
	if p.have && p.key == key && now.Sub(p.at) < p.Pace && now.Sub(p.at) >= 0 {
		return p.err
	}
	err := p.Prober.Probe(ctx, controlPlaneNS, trustDomain, roots)
	if ctx.Err() != nil {
		return err // the caller gave up: not an answer about the service
	}
	p.key, p.at, p.err, p.have = key, now, err, true
	return err
}

func identityKey(ns, trustDomain string, roots []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(ns))
	h.Write([]byte{0})
	h.Write([]byte(trustDomain))
	for _, c := range roots {
		h.Write([]byte{0})
		h.Write(c.Raw)
	}
	var k [sha256.Size]byte
	copy(k[:], h.Sum(nil))
	return k
}
