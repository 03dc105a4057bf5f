package sidecar_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
	"github.com/meshkeeper/meshkeeper/test/apps/load"
)

// killableApp is an HTTP app that can die the way a process exiting at once
// on SIGTERM does: its listener closes and every connection it holds is
// reset, requests in flight included.
type killableApp struct {
	addr netip.AddrPort
	ln   net.Listener

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startKillableApp(t *testing.T) *killableApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &killableApp{addr: netip.MustParseAddrPort(ln.Addr().String()), ln: ln, conns: map[net.Conn]struct{}{}}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			time.Sleep(5 * time.Millisecond) // some requests are in flight when it dies
			_, _ = io.WriteString(w, "ok")
		}),
		ConnState: func(c net.Conn, st http.ConnState) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if st == http.StateNew {
				a.conns[c] = struct{}{}
			} else if st == http.StateClosed {
				delete(a.conns, c)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return a
}

func (a *killableApp) kill() {
	_ = a.ln.Close()
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.conns {
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close()
	}
}

// TestRollingRestartOfAbruptApps: a rolling restart of three pods whose apps
// die at once, each still listed by discovery for a moment after its app
// died (as endpoint updates lag), under 200 RPS of GETs: no request fails.
func TestRollingRestartOfAbruptApps(t *testing.T) {
	if testing.Short() {
		t.Skip("6 s of load")
	}
	ca := testpki.NewCA(t, "anchor")
	var logs syncBuffer // shown when the test fails
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM(), log: &logs})
	client.dst.set(netip.MustParseAddrPort(service))
	type pod struct {
		app   *killableApp
		proxy *proxy
	}
	startPod := func() pod {
		p := pod{app: startKillableApp(t), proxy: startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM(), log: &logs})}
		p.proxy.dst.set(p.app.addr)
		return p
	}
	publish := func(pods []pod) {
		var eps []contract.Endpoint
		for _, p := range pods {
			ap := netip.MustParseAddrPort(p.proxy.inbound)
			eps = append(eps, contract.Endpoint{IP: ap.Addr().String(), Port: int32(ap.Port()), Identity: serverID})
		}
		client.store.Set(contract.DiscoverySnapshot{Services: map[string]contract.ServiceTarget{service: {Endpoints: eps}}})
	}
	pods := []pod{startPod(), startPod(), startPod()}
	publish(pods)

	done := make(chan load.Summary, 1)
	go func() {
		s, err := load.Run(context.Background(), load.Config{Target: "http://" + client.outbound + "/",
			RPS: 200, Duration: 6 * time.Second, Concurrency: 64, Timeout: 2 * time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	time.Sleep(time.Second)
	for range 3 {
		pods = append(pods, startPod())
		publish(pods)
		time.Sleep(300 * time.Millisecond)
		old := pods[0]
		old.app.kill()                     // SIGTERM: the app is gone at once
		time.Sleep(200 * time.Millisecond) // discovery still lists it
		pods = pods[1:]
		publish(pods)
		time.Sleep(200 * time.Millisecond)
		old.proxy.stop() // the sidecar stops after the app
		time.Sleep(500 * time.Millisecond)
	}
	s := <-done
	t.Logf("sent=%d ok=%d failed=%d timeouts=%d dropped=%d codes=%v errors=%v retries=%s",
		s.Sent, s.Successes, s.Failures, s.Timeouts, s.Dropped, s.StatusCodes, s.ErrorSamples,
		client.metric(t, `meshkeeper_proxy_retries_total{result="sent"}`))
	if s.Sent < 1000 || s.Successes != s.Sent || s.Failures+s.TLSErrors+s.Timeouts+s.Dropped != 0 {
		_, metrics := get(t, "http://"+client.admin+contract.MetricsPath)
		for _, line := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(line, "meshkeeper_proxy_re") {
				t.Log(line)
			}
		}
		t.Logf("proxy logs:\n%s", logs.String())
		t.Fatalf("requests failed during the rolling restart: %+v", s)
	}
}

// syncBuffer is a bytes.Buffer safe for the proxies' concurrent loggers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
