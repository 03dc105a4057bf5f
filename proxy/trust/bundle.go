// Package trust holds the trust anchors the proxy verifies peers with and
// reloads them from the mounted ConfigMap file without a restart.
package trust

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/pki"
	"github.com/meshkeeper/meshkeeper/proxy/clock"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
)

// PollInterval is how often Watch re-reads the bundle file. kubelet updates a
// ConfigMap volume by swapping a symlink, which a poll sees reliably.
const PollInterval = 2 * time.Second

// ParseBundle returns every certificate in a PEM bundle; a bundle with none is
// an error so a half-written file never empties the trust store.
func ParseBundle(data []byte) ([]*x509.Certificate, error) {
	anchors, err := pki.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("trust bundle: %w", err)
	}
	return anchors, nil
}

type snapshot struct {
	digest  [sha256.Size]byte
	pool    *x509.CertPool
	anchors []*x509.Certificate
	label   string
}

// Bundle is the current set of trust anchors, swapped atomically on reload.
type Bundle struct {
	path string
	log  *slog.Logger
	cur  atomic.Pointer[snapshot]
}

// Load reads the bundle at path; the proxy cannot verify anyone without it.
func Load(path string, log *slog.Logger) (*Bundle, error) {
	b := &Bundle{path: path, log: log}
	if _, err := b.Reload(); err != nil {
		return nil, err
	}
	return b, nil
}

// Pool is the verifying pool in force now.
func (b *Bundle) Pool() *x509.CertPool { return b.cur.Load().pool }

// AnchorsLabel is the build-info value of the anchors in force now.
func (b *Bundle) AnchorsLabel() string { return b.cur.Load().label }

// Reload re-reads the file and swaps the pool when its content changed. On a
// read or parse error the previous anchors stay in force.
func (b *Bundle) Reload() (changed bool, err error) {
	data, err := os.ReadFile(b.path)
	if err != nil {
		return false, fmt.Errorf("read trust bundle: %w", err)
	}
	digest := sha256.Sum256(data)
	if old := b.cur.Load(); old != nil && bytes.Equal(old.digest[:], digest[:]) {
		return false, nil
	}
	anchors, err := ParseBundle(data)
	if err != nil {
		return false, err
	}
	pool := x509.NewCertPool()
	for _, a := range anchors {
		pool.AddCert(a)
	}
	next := &snapshot{digest: digest, pool: pool, anchors: anchors, label: tlsid.AnchorsLabel(anchors)}
	b.cur.Store(next)
	b.log.Info("trust bundle loaded", "anchors", next.label)
	return true, nil
}

// Watch reloads the bundle every interval until ctx ends.
func (b *Bundle) Watch(ctx context.Context, clk clock.Clock, interval time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-clk.After(interval):
			if _, err := b.Reload(); err != nil {
				b.log.Warn("trust bundle reload failed; keeping previous anchors", "err", err)
			}
		}
	}
}
