package sidecar_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// abruptApp is an application that dies under every request: it reads what
// the client sent, then resets the connection (SO_LINGER 0) before any
// response byte, as the kernel does for a process that exits at once on
// SIGTERM. It counts the HTTP/1 requests it saw, by method.
type abruptApp struct {
	addr  netip.AddrPort
	posts atomic.Int32
	conns atomic.Int32
}

func startAbruptApp(t *testing.T) *abruptApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	a := &abruptApp{addr: netip.MustParseAddrPort(ln.Addr().String())}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.conns.Add(1)
			go a.die(c)
		}
	}()
	return a
}

// die reads until the request is in (an HTTP/1 head, or the HTTP/2 frames
// that arrive together), then resets.
func (a *abruptApp) die(c net.Conn) {
	var got []byte
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for !bytes.Contains(got, []byte("\r\n\r\n")) || bytes.HasPrefix(got, []byte("PRI * HTTP/2.0")) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
		if bytes.HasPrefix(got, []byte("PRI * HTTP/2.0")) && len(got) > 24 {
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)) // the rest of the frames
		}
	}
	if bytes.HasPrefix(got, []byte("POST ")) {
		a.posts.Add(1)
	}
	_ = c.(*net.TCPConn).SetLinger(0)
	_ = c.Close()
}

// TestAbruptAppIsRetriedElsewhere: one of a service's two endpoints resets
// every request before answering (its app exits at once on SIGTERM). Its
// inbound proxy says so to the client's proxy, which sends idempotent
// requests again to the other endpoint: no GET fails, over HTTP/1.1 (the
// fast paths) and HTTP/2 (net/http's); a POST is never sent twice.
func TestAbruptAppIsRetriedElsewhere(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	good := startApp(t)
	dying := startAbruptApp(t)
	serverA := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	serverB := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	serverA.dst.set(dying.addr)
	serverB.dst.set(good.httpAddr)
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	a, b := netip.MustParseAddrPort(serverA.inbound), netip.MustParseAddrPort(serverB.inbound)
	client.store.Set(contract.DiscoverySnapshot{Services: map[string]contract.ServiceTarget{
		service: {Endpoints: []contract.Endpoint{
			{IP: a.Addr().String(), Port: int32(a.Port()), Identity: serverID},
			{IP: b.Addr().String(), Port: int32(b.Port()), Identity: serverID},
		}},
	}})
	client.dst.set(netip.MustParseAddrPort(service))

	for _, h2 := range []bool{false, true} {
		c := clientVia(client.outbound, h2)
		for i := range 6 { // round robin: half of them meet the dying app first
			resp, err := c.Get("http://" + service + "/echo")
			if err != nil {
				t.Fatalf("h2=%v GET %d: %v", h2, i, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("h2=%v GET %d: status %d, want the live app's 201", h2, i, resp.StatusCode)
			}
		}
	}
	if dying.conns.Load() == 0 {
		t.Fatal("no request met the dying app")
	}
	if got := client.metric(t, `meshkeeper_proxy_retries_total{result="sent"}`); got == "absent" {
		t.Fatal("retries not counted")
	}

	// A POST that met the dying app is answered 502, never sent again.
	c := clientVia(client.outbound, false)
	for i := 0; dying.posts.Load() == 0 && i < 4; i++ {
		resp, err := c.Post("http://"+service+"/echo", "text/plain", strings.NewReader("once"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // keep the connection: one route per request
		resp.Body.Close()
		if dying.posts.Load() == 1 && resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("POST that met the dying app: status %d, want 502", resp.StatusCode)
		}
	}
	if n := dying.posts.Load(); n != 1 {
		t.Fatalf("the dying app saw %d POSTs, want exactly 1", n)
	}
}
