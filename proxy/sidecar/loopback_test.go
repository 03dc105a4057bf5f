package sidecar_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/clock/clocktest"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
	"github.com/meshkeeper/meshkeeper/proxy/trust"
)

const service = "198.19.0.5:80" // a ClusterIP nobody dials: discovery maps it to the server proxy

// TestMeshRoundTrips runs client → outbound proxy → mTLS → inbound proxy → app
// and compares everything the app and the client see with a direct call.
func TestMeshRoundTrips(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	a := startApp(t)
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)

	t.Run("HTTP/1.1 identical to a direct call", func(t *testing.T) {
		server.dst.set(a.httpAddr)
		do := func(c *http.Client, base string) (string, string) {
			req, _ := http.NewRequest(http.MethodPost, base+"/echo?q=1&q=2", strings.NewReader("hello body"))
			req.Host = "web.app.svc"
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			req.Header.Add("X-Multi", "one")
			req.Header.Add("X-Multi", "two")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return fmt.Sprintf("%s %d\n%s", resp.Proto, resp.StatusCode, sortedHeader(resp.Header)), string(body)
		}
		wantHead, wantBody := do(clientVia(a.httpAddr.String(), false), "http://"+a.httpAddr.String())
		for i := 0; i < 3; i++ { // keep-alive: several requests on one connection
			gotHead, gotBody := do(clientVia(client.outbound, false), "http://"+service)
			if gotHead != wantHead || gotBody != wantBody {
				t.Fatalf("through the mesh:\n%s%s\ndirect:\n%s%s", gotHead, gotBody, wantHead, wantBody)
			}
		}
	})

	t.Run("HTTP/2 prior knowledge streaming with trailers", func(t *testing.T) {
		server.dst.set(a.httpAddr)
		do := func(c *http.Client, base string) string {
			resp, err := c.Post(base+"/stream", "application/grpc", bytes.NewReader([]byte{9, 8, 7}))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return fmt.Sprintf("%s %d\n%s%x\ntrailer %s", resp.Proto, resp.StatusCode, sortedHeader(resp.Header), body, sortedHeader(resp.Trailer))
		}
		want := do(clientVia(a.httpAddr.String(), true), "http://"+a.httpAddr.String())
		if got := do(clientVia(client.outbound, true), "http://"+service); got != want {
			t.Fatalf("through the mesh:\n%s\ndirect:\n%s", got, want)
		}
		if !strings.Contains(want, "HTTP/2.0") || !strings.Contains(want, "Grpc-Status: 0") {
			t.Fatalf("app did not answer h2 with trailers: %s", want)
		}
	})

	t.Run("full-duplex streaming: response flows before the request ends", func(t *testing.T) {
		server.dst.set(a.httpAddr)
		pr, pw := io.Pipe()
		defer pw.Close()
		result := make(chan error, 1)
		go func() { // bounded below: a half-duplex proxy would block here forever
			req, _ := http.NewRequest(http.MethodPost, "http://"+service+"/duplex", pr)
			resp, err := clientVia(client.outbound, false).Do(req)
			if err != nil {
				result <- err
				return
			}
			defer resp.Body.Close()
			lines := bufio.NewReader(resp.Body)
			for i := 0; i < 3; i++ { // each echo must arrive while the request is still open
				fmt.Fprintf(pw, "line %d\n", i)
				got, err := lines.ReadString('\n')
				if err != nil || got != fmt.Sprintf("echo line %d\n", i) {
					result <- fmt.Errorf("round %d: %q, %v", i, got, err)
					return
				}
			}
			result <- nil
		}()
		select {
		case err := <-result:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no echo while the request body was still open: the proxy is not full duplex")
		}
	})

	t.Run("raw TCP byte-identical", func(t *testing.T) {
		server.dst.set(a.tcpAddr)
		payload := make([]byte, 256<<10)
		_, _ = rand.Read(payload)
		c, err := net.Dial("tcp", client.outbound)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			_, _ = c.Write(payload)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		echo, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(echo, payload) {
			t.Fatalf("echo: %d of %d bytes, err %v", len(echo), len(payload), err)
		}
	})

	t.Run("metrics count exactly the requests with verified identities", func(t *testing.T) {
		server.dst.set(a.httpAddr)
		const n = 5
		c := clientVia(client.outbound, false)
		for i := 0; i < n; i++ {
			resp, err := c.Get("http://" + service + "/status/500")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		in := `meshkeeper_proxy_requests_total{classification="failure",direction="inbound",dst_namespace="",dst_service="",error="",grpc_status="",peer_identity="` + clientID + `",status_code="500",tls="true"}`
		out := `meshkeeper_proxy_requests_total{classification="failure",direction="outbound",dst_namespace="app",dst_service="server",error="",grpc_status="",peer_identity="` + serverID + `",status_code="500",tls="true"}`
		if got := server.metric(t, in); got != fmt.Sprint(n) {
			t.Fatalf("server inbound: %s = %s", in, got)
		}
		if got := client.metric(t, out); got != fmt.Sprint(n) {
			t.Fatalf("client outbound: %s = %s", out, got)
		}
		// The earlier 3 HTTP/1 and 1 h2 requests succeeded with identities too.
		in201 := `meshkeeper_proxy_requests_total{classification="success",direction="inbound",dst_namespace="",dst_service="",error="",grpc_status="",peer_identity="` + clientID + `",status_code="201",tls="true"}`
		if got := server.metric(t, in201); got != "3" {
			t.Fatalf("%s = %s", in201, got)
		}
		buildInfo := `meshkeeper_proxy_build_info{issuer="` + tlsid.Fingerprint(ca.Cert) + `",trust_anchors="` + tlsid.Fingerprint(ca.Cert) + `",version="9.9.9-test"}`
		if got := server.metric(t, buildInfo); got != "1" {
			t.Fatalf("%s = %s", buildInfo, got)
		}
		if got := server.metric(t, `meshkeeper_proxy_tcp_connections_total{direction="inbound",dst_namespace="",dst_service="",tls="true"}`); got == "absent" || got == "0" {
			t.Fatalf("inbound mTLS connections not counted: %s", got)
		}
	})

	t.Run("discovery identity mismatch is refused", func(t *testing.T) {
		server.dst.set(a.httpAddr)
		client.route(service, server.inbound, "spiffe://"+td+"/ns/app/sa/impostor")
		defer client.route(service, server.inbound, serverID)
		resp, err := clientVia(client.outbound, false).Get("http://" + service + "/echo")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("status %d, want 502 when the server proves another identity", resp.StatusCode)
		}
	})
}

// TestTrustDomainAndModes checks who the inbound side lets in.
func TestTrustDomainAndModes(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	a := startApp(t)
	permissive := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	strict := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM(), strict: true})
	permissive.dst.set(a.httpAddr)
	strict.dst.set(a.httpAddr)
	good := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	evil := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, "spiffe://evil.local/ns/app/sa/client")), anchor: ca.PEM()})

	status := func(p *proxy, endpoint, identity string) int {
		p.route(service, endpoint, identity)
		resp, err := clientVia(p.outbound, false).Get("http://" + service + "/echo")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name     string
		from     *proxy
		to       *proxy
		identity string // "" = client proxy sees a non-meshed endpoint: plaintext
		want     int
	}{
		{"mTLS into strict", good, strict, serverID, http.StatusCreated},
		{"plaintext into permissive", good, permissive, "", http.StatusCreated},
		{"plaintext into strict is refused", good, strict, "", http.StatusBadGateway},
		{"other trust domain into permissive is refused", evil, permissive, serverID, http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := status(tt.from, tt.to.inbound, tt.identity); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
		})
	}
	// A plain client straight at the strict inbound port gets no answer at all.
	if _, err := clientVia(strict.inbound, false).Get("http://x/echo"); err == nil {
		t.Fatal("strict inbound answered plaintext")
	}
	if got := permissive.metric(t, `meshkeeper_proxy_requests_total{classification="success",direction="inbound",dst_namespace="",dst_service="",error="",grpc_status="",peer_identity="",status_code="201",tls="false"}`); got != "1" {
		t.Fatalf("plaintext request not counted with tls=false: %s", got)
	}
}

// TestTrustBundleHotReload trusts a new anchor without restarting the proxy.
func TestTrustBundleHotReload(t *testing.T) {
	oldCA, newCA := testpki.NewCA(t, "old"), testpki.NewCA(t, "new")
	a := startApp(t)
	clk := clocktest.New(time.Now())
	server := startProxy(t, proxyOpts{certs: newCerts(oldCA.Leaf(t, serverID)), anchor: oldCA.PEM(), clock: clk})
	server.dst.set(a.httpAddr)
	both := append(oldCA.PEM(), newCA.PEM()...)
	client := startProxy(t, proxyOpts{certs: newCerts(newCA.Leaf(t, clientID)), anchor: both})
	client.route(service, server.inbound, serverID)
	call := func() int {
		resp, err := clientVia(client.outbound, false).Get("http://" + service + "/echo")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call(); got != http.StatusBadGateway {
		t.Fatalf("client with a not-yet-trusted anchor got %d", got)
	}
	writeFile(t, server.trustPath, both)
	clk.Advance(trust.PollInterval)
	anchors := tlsid.AnchorsLabel([]*x509.Certificate{oldCA.Cert, newCA.Cert})
	waitFor(t, func() bool {
		return strings.Contains(server.metric(t, `meshkeeper_proxy_build_info{issuer="`+tlsid.Fingerprint(oldCA.Cert)+`",trust_anchors="`+anchors+`",version="9.9.9-test"}`), "1")
	})
	if got := call(); got != http.StatusCreated {
		t.Fatalf("after reload got %d, want 201", got)
	}
}
