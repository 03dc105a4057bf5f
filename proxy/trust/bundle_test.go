package trust_test

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/clock/clocktest"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
	"github.com/meshkeeper/meshkeeper/proxy/trust"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestParseBundle(t *testing.T) {
	a, b := testpki.NewCA(t, "a"), testpki.NewCA(t, "b")
	tests := []struct {
		name    string
		in      []byte
		want    int
		wantErr bool
	}{
		{"one", a.PEM(), 1, false},
		{"two with junk between", append(append(a.PEM(), "junk\n"...), b.PEM()...), 2, false},
		{"empty", nil, 0, true},
		{"only a key block", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0, true},
		{"corrupt certificate", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := trust.ParseBundle(tt.in)
			if (err != nil) != tt.wantErr || len(got) != tt.want {
				t.Fatalf("got %d anchors, err %v", len(got), err)
			}
		})
	}
}

// writeConfigMapStyle mimics kubelet: data lives in a timestamped dir and the
// file is a symlink through a "..data" link that is swapped atomically.
func writeConfigMapStyle(t *testing.T, dir, version string, data []byte) {
	t.Helper()
	vdir := filepath.Join(dir, "..v"+version)
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vdir, "ca-bundle.crt"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink("..v"+version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "ca-bundle.crt")
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink("..data/ca-bundle.crt", link); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWatchSwapsAnchorsOnSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := testpki.NewCA(t, "old"), testpki.NewCA(t, "new")
	writeConfigMapStyle(t, dir, "1", oldCA.PEM())
	b, err := trust.Load(filepath.Join(dir, "ca-bundle.crt"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.AnchorsLabel(); got != tlsid.Fingerprint(oldCA.Cert) {
		t.Fatalf("label %q", got)
	}
	clk := clocktest.New(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Watch(ctx, clk, trust.PollInterval)

	leaf := newCA.Leaf(t, "spiffe://td/ns/a/sa/b")
	if _, err := tlsid.VerifyChain(leaf.Certificate, b.Pool(), time.Now); err == nil {
		t.Fatal("new anchor trusted before rotation")
	}
	writeConfigMapStyle(t, dir, "2", append(oldCA.PEM(), newCA.PEM()...))
	// One poll tick later the new pool is in force.
	if _, ok := clk.NextWakeup(ctx.Done()); !ok {
		t.Fatal("watcher never waited")
	}
	clk.Advance(trust.PollInterval)
	if _, ok := clk.NextWakeup(ctx.Done()); !ok { // the watcher is back waiting: reload done
		t.Fatal("watcher stopped")
	}
	if _, err := tlsid.VerifyChain(leaf.Certificate, b.Pool(), time.Now); err != nil {
		t.Fatalf("new anchor not trusted after reload: %v", err)
	}
	if got, want := b.AnchorsLabel(), tlsid.AnchorsLabel([]*x509.Certificate{oldCA.Cert, newCA.Cert}); got != want {
		t.Fatalf("label %q, want %q", got, want)
	}

	// A broken write keeps the previous anchors.
	writeConfigMapStyle(t, dir, "3", []byte("garbage"))
	if _, err := b.Reload(); err == nil {
		t.Fatal("garbage bundle accepted")
	}
	if _, err := tlsid.VerifyChain(leaf.Certificate, b.Pool(), time.Now); err != nil {
		t.Fatal("anchors lost after a broken write")
	}
}
