package discovery_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/testsupport"
	"github.com/meshkeeper/meshkeeper/proxy/clock/clocktest"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// TestStreamsSnapshotsAndKeepsLastOnReconnect serves two snapshots and a
// keep-alive on the first stream, then breaks it; the client keeps the last
// snapshot and reconnects after backoff.
func TestStreamsSnapshotsAndKeepsLastOnReconnect(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	var streams atomic.Int32
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != contract.DiscoveryPath {
			http.NotFound(w, r)
			return
		}
		n := streams.Add(1)
		enc := json.NewEncoder(w)
		pod := func(rev uint64) contract.DiscoverySnapshot {
			return contract.DiscoverySnapshot{Revision: rev, Pods: map[string]contract.MeshedPod{"198.18.10.4": {Identity: "spiffe://td/ns/a/sa/web"}}}
		}
		if n == 1 {
			_ = enc.Encode(pod(1))
			_, _ = w.Write([]byte("\n")) // keep-alive
			_ = enc.Encode(pod(2))
			w.(http.Flusher).Flush()
			<-release
			return // stream breaks
		}
		_ = enc.Encode(pod(3))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Leaf(t, "", "meshkeeper-discovery.meshkeeper.svc")}}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	store := &discovery.Store{}
	clk := clocktest.New(time.Now())
	c := &discovery.Client{
		Addr: "meshkeeper-discovery.meshkeeper.svc:" + port, Roots: testpki.Static{Roots: ca.Pool()},
		Store: store, Clock: clk, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)

	waitFor(t, func() bool { return store.Revision() == 2 })
	close(release)
	wait, ok := clk.NextWakeup(ctx.Done())
	if !ok || wait != 250*time.Millisecond {
		t.Fatalf("reconnect planned in %v", wait)
	}
	want := discovery.Target{Addr: netip.MustParseAddrPort("198.18.10.4:80"), Identity: "spiffe://td/ns/a/sa/web"}
	if got := store.Resolve(want.Addr); got != want {
		t.Fatalf("last snapshot lost while disconnected: %+v", got)
	}
	clk.Advance(wait)
	waitFor(t, func() bool { return store.Revision() == 3 })
}

// waitFor polls a condition that another goroutine makes true over real I/O.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	testsupport.Until(t, "condition", 10*time.Second, cond)
}
