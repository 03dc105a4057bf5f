package sidecar_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// BenchmarkMeshHTTP1 measures one 1 KiB POST round trip through both proxies
// (outbound → mTLS → inbound → app) with parallel keep-alive clients.
func BenchmarkMeshHTTP1(b *testing.B) {
	ca := testpki.NewCA(b, "anchor")
	a := startApp(b)
	server := startProxy(b, proxyOpts{certs: newCerts(ca.Leaf(b, serverID)), anchor: ca.PEM()})
	client := startProxy(b, proxyOpts{certs: newCerts(ca.Leaf(b, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(a.httpAddr)
	c := clientVia(client.outbound, false)
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	body := bytes.Repeat([]byte("m"), 1024)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Post("http://"+service+"/echo", "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
