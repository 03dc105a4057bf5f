package metrics_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/metrics"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		status    int
		transport bool
		want      string
	}{
		{200, false, c.ClassSuccess},
		{404, false, c.ClassSuccess},
		{499, false, c.ClassSuccess},
		{500, false, c.ClassFailure},
		{503, false, c.ClassFailure},
		{502, true, c.ClassFailure},
		{0, true, c.ClassFailure},
		{0, false, c.ClassFailure},
	}
	for _, tt := range tests {
		if got := metrics.Classify(tt.status, tt.transport); got != tt.want {
			t.Errorf("Classify(%d, %v) = %s", tt.status, tt.transport, got)
		}
	}
}

type info struct{ anchors atomic.Value }

func (i *info) AnchorsLabel() string { return i.anchors.Load().(string) }
func (i *info) IssuerLabel() string  { return "iss" }

func TestLabelsAndBuildInfo(t *testing.T) {
	in := &info{}
	in.anchors.Store("aa")
	m := metrics.New("1.2.3", in)
	id := "spiffe://td/ns/a/sa/web"
	m.ObserveRequest(metrics.Request{Direction: c.DirectionInbound, Status: 200, PeerIdentity: id, TLS: true, Latency: 300 * time.Microsecond})
	m.ObserveRequest(metrics.Request{Direction: c.DirectionInbound, Status: 503, PeerIdentity: id, TLS: true, Latency: time.Millisecond})
	m.ObserveRequest(metrics.Request{Direction: c.DirectionOutbound, Status: 502, TransportError: true})
	conn := m.ConnOpened(c.DirectionOutbound, false)
	conn.Read(10)
	conn.Wrote(7)

	in.anchors.Store("aa,bb") // rotation: the next scrape shows only the new value
	want := `
# HELP meshkeeper_proxy_build_info Proxy version, trusted anchors and current issuer (SHA-256 fingerprints).
# TYPE meshkeeper_proxy_build_info gauge
meshkeeper_proxy_build_info{issuer="iss",trust_anchors="aa,bb",version="1.2.3"} 1
# HELP meshkeeper_proxy_requests_total HTTP requests proxied, by outcome.
# TYPE meshkeeper_proxy_requests_total counter
meshkeeper_proxy_requests_total{classification="failure",direction="inbound",peer_identity="spiffe://td/ns/a/sa/web",status_code="503",tls="true"} 1
meshkeeper_proxy_requests_total{classification="failure",direction="outbound",peer_identity="",status_code="502",tls="false"} 1
meshkeeper_proxy_requests_total{classification="success",direction="inbound",peer_identity="spiffe://td/ns/a/sa/web",status_code="200",tls="true"} 1
# HELP meshkeeper_proxy_tcp_bytes_total Bytes relayed on the mesh side of accepted connections.
# TYPE meshkeeper_proxy_tcp_bytes_total counter
meshkeeper_proxy_tcp_bytes_total{direction="outbound",flow="read",tls="false"} 10
meshkeeper_proxy_tcp_bytes_total{direction="outbound",flow="write",tls="false"} 7
# HELP meshkeeper_proxy_tcp_open_connections TCP connections open now.
# TYPE meshkeeper_proxy_tcp_open_connections gauge
meshkeeper_proxy_tcp_open_connections{direction="outbound",tls="false"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		c.MetricBuildInfo, c.MetricRequestsTotal, c.MetricTCPBytesTotal, c.MetricTCPOpenConnections); err != nil {
		t.Fatal(err)
	}
	conn.Closed()
	closed := `
# HELP meshkeeper_proxy_tcp_open_connections TCP connections open now.
# TYPE meshkeeper_proxy_tcp_open_connections gauge
meshkeeper_proxy_tcp_open_connections{direction="outbound",tls="false"} 0
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(closed), c.MetricTCPOpenConnections); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(m.Registry, c.MetricRequestDuration); err != nil || n != 3 {
		t.Fatalf("latency series = %d, %v", n, err)
	}
}
