package sidecar_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// TestKeepAliveHandsOffToNetHTTP sends, on one client connection, requests
// the HTTP/1 fast path serves, then one it hands to net/http (chunked), then
// more: every one is answered, in order, through both proxies; an HTTP/1
// response of unknown length streams with its trailers.
func TestKeepAliveHandsOffToNetHTTP(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	a := startApp(t)
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(a.httpAddr)

	c, err := net.Dial("tcp", client.outbound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	send := func(raw string) {
		if _, err := c.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(method string) *http.Response {
		req, _ := http.NewRequest(method, "http://"+service, nil)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	echo := func(body string) string {
		return fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: web\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	body := func(resp *http.Response) string {
		b := new(strings.Builder)
		_, err := bufio.NewReader(resp.Body).WriteTo(b)
		if err != nil {
			t.Fatal(err)
		}
		return b.String()
	}

	send(echo("one"))
	if resp := read("POST"); resp.StatusCode != 201 || !strings.Contains(body(resp), "one") {
		t.Fatalf("first: %d", resp.StatusCode)
	}
	send("POST /stream HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\n\r\nabc")
	resp := read("POST")
	if got := body(resp); resp.StatusCode != 200 || len(resp.TransferEncoding) == 0 || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Fatalf("stream: %d %v %q trailer %v", resp.StatusCode, resp.TransferEncoding, got, resp.Trailer)
	}
	// Pipelined: a chunked request (net/http's) behind a fast one.
	send(echo("two") + "POST /echo HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthree\r\n0\r\n\r\n" + echo("four"))
	for _, want := range []string{"two", "three", "four"} {
		if resp := read("POST"); resp.StatusCode != 201 || !strings.Contains(body(resp), want) {
			t.Fatalf("%s: %d", want, resp.StatusCode)
		}
	}
}
