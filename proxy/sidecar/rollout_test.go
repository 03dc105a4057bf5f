package sidecar_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testlog"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
	"github.com/meshkeeper/meshkeeper/proxy/sidecar"
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
	// A connection per request, as apps without keep-alive have: every
	// request in flight when the app dies is reset on a fresh connection,
	// which no connection pool sends again.
	srv.SetKeepAlivesEnabled(false)
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
// died (as endpoint updates lag), while four clients send GETs back to back:
// no request fails. The clients wait as long as it takes (no timeout, no
// rate), so a starved machine slows the test down but cannot fail it.
func TestRollingRestartOfAbruptApps(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of traffic")
	}
	ca := testpki.NewCA(t, "anchor")
	var logs testlog.Buffer // shown when the test fails
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM(), log: &logs,
		detect: sidecar.DefaultDetectTimeout})
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

	var sent, failed atomic.Int32
	var failures testlog.Buffer
	stop := make(chan struct{})
	var clients sync.WaitGroup
	for range 4 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			c := clientVia(client.outbound, false)
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				resp, err := c.Get("http://" + service + "/")
				if err != nil {
					failed.Add(1)
					fmt.Fprintln(&failures, err)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(body) != "ok" {
					failed.Add(1)
					fmt.Fprintf(&failures, "%d %q\n", resp.StatusCode, body)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
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
		time.Sleep(300 * time.Millisecond)
	}
	close(stop)
	clients.Wait()
	retries := client.metric(t, `meshkeeper_proxy_retries_total{result="sent"}`)
	t.Logf("sent=%d failed=%d retries=%s", sent.Load(), failed.Load(), retries)
	if failed.Load() != 0 {
		t.Logf("proxy logs:\n%s", logs.String())
		t.Fatalf("%d of %d requests failed during the rolling restart:\n%s", failed.Load(), sent.Load(), failures.String())
	}
	if retries == "absent" {
		t.Fatal("no request met a dying pod: the test did not test anything")
	}
}
