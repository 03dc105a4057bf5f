package metrics_test

import (
	"mime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/metrics"
)

func TestClassify(t *testing.T) {
	const (
		ok, fail = c.ClassSuccess, c.ClassFailure
	)
	tests := []struct {
		name string
		in   metrics.Outcome
		want metrics.Verdict
	}{
		{"HTTP 200", metrics.Outcome{Status: 200}, metrics.Verdict{Class: ok}},
		{"HTTP 404 is the client's", metrics.Outcome{Status: 404}, metrics.Verdict{Class: ok}},
		{"HTTP 499", metrics.Outcome{Status: 499}, metrics.Verdict{Class: ok}},
		{"HTTP 500", metrics.Outcome{Status: 500}, metrics.Verdict{Class: fail}},
		{"HTTP 503", metrics.Outcome{Status: 503}, metrics.Verdict{Class: fail}},
		{"101 switching protocols", metrics.Outcome{Status: 101}, metrics.Verdict{Class: ok}},
		{"no status, no reason", metrics.Outcome{}, metrics.Verdict{Class: fail}},
		{"connect failure answered 502", metrics.Outcome{Status: 502, Error: c.ErrorConnect}, metrics.Verdict{Class: fail, Error: c.ErrorConnect}},
		{"timeout answered 504", metrics.Outcome{Status: 504, Error: c.ErrorTimeout}, metrics.Verdict{Class: fail, Error: c.ErrorTimeout}},
		{"upstream reset after a 200", metrics.Outcome{Status: 200, Error: c.ErrorUpstreamReset}, metrics.Verdict{Class: fail, Error: c.ErrorUpstreamReset}},
		{"fault injected", metrics.Outcome{Status: 503, Error: c.ErrorFaultInjected}, metrics.Verdict{Class: fail, Error: c.ErrorFaultInjected}},
		{"client left before an answer", metrics.Outcome{Error: c.ErrorClientCancel}, metrics.Verdict{Class: fail, Error: c.ErrorClientCancel}},
		{"client left a 200 download", metrics.Outcome{Status: 200, Error: c.ErrorClientCancel}, metrics.Verdict{Class: ok, Error: c.ErrorClientCancel}},
		{"client left a 500", metrics.Outcome{Status: 500, Error: c.ErrorClientCancel}, metrics.Verdict{Class: fail, Error: c.ErrorClientCancel}},
		{"client left a gRPC stream", metrics.Outcome{Status: 200, GRPC: true, Error: c.ErrorClientCancel}, metrics.Verdict{Class: ok, Error: c.ErrorClientCancel}},
		{"client left after trailers-only UNAVAILABLE", metrics.Outcome{Status: 200, GRPC: true, GRPCStatus: "14", Error: c.ErrorClientCancel},
			metrics.Verdict{Class: fail, GRPCStatus: "14", Error: c.ErrorClientCancel}},
		{"gRPC without grpc-status", metrics.Outcome{Status: 200, GRPC: true}, metrics.Verdict{Class: fail, Error: c.ErrorGRPCStatusMissing}},
		{"gRPC with grpc-status 17", metrics.Outcome{Status: 200, GRPC: true, GRPCStatus: "17"}, metrics.Verdict{Class: fail, Error: c.ErrorGRPCStatusInvalid}},
		{"gRPC with grpc-status 05", metrics.Outcome{Status: 200, GRPC: true, GRPCStatus: "05"}, metrics.Verdict{Class: fail, Error: c.ErrorGRPCStatusInvalid}},
		{"gRPC with grpc-status -1", metrics.Outcome{Status: 200, GRPC: true, GRPCStatus: "-1"}, metrics.Verdict{Class: fail, Error: c.ErrorGRPCStatusInvalid}},
		{"gRPC with grpc-status x", metrics.Outcome{Status: 200, GRPC: true, GRPCStatus: "x"}, metrics.Verdict{Class: fail, Error: c.ErrorGRPCStatusInvalid}},
		{"gRPC with grpc-status +1", metrics.Outcome{Status: 200, GRPC: true, GRPCStatus: "+1"}, metrics.Verdict{Class: fail, Error: c.ErrorGRPCStatusInvalid}},
		{"gRPC with grpc-status -0", metrics.Outcome{Status: 200, GRPC: true, GRPCStatus: "-0"}, metrics.Verdict{Class: fail, Error: c.ErrorGRPCStatusInvalid}},
		{"gRPC with grpc-status 1 after a space", metrics.Outcome{Status: 200, GRPC: true, GRPCStatus: " 1"}, metrics.Verdict{Class: fail, Error: c.ErrorGRPCStatusInvalid}},
		{"gRPC 502 from a proxy, no status", metrics.Outcome{Status: 502, GRPC: true, Error: c.ErrorConnect}, metrics.Verdict{Class: fail, Error: c.ErrorConnect}},
		{"gRPC OK on HTTP 503", metrics.Outcome{Status: 503, GRPC: true, GRPCStatus: "0"}, metrics.Verdict{Class: fail, GRPCStatus: "0"}},
		{"gRPC reset after data", metrics.Outcome{Status: 200, GRPC: true, Error: c.ErrorUpstreamReset}, metrics.Verdict{Class: fail, Error: c.ErrorUpstreamReset}},
		{"grpc-status ignored on a non-gRPC request", metrics.Outcome{Status: 200, GRPCStatus: "14"}, metrics.Verdict{Class: ok}},
	}
	for _, tt := range tests {
		if got := metrics.Classify(tt.in); got != tt.want {
			t.Errorf("%s: Classify(%+v) = %+v, want %+v", tt.name, tt.in, got, tt.want)
		}
	}
}

// TestGRPCCodes is the whole table of gRPC codes: a failure exactly when the
// code's HTTP equivalent (google.rpc.Code) is a 5xx.
func TestGRPCCodes(t *testing.T) {
	http := map[int]int{0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400,
		10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}
	for code := 0; code <= 16; code++ {
		v := metrics.Classify(metrics.Outcome{Status: 200, GRPC: true, GRPCStatus: strconv.Itoa(code)})
		want := c.ClassSuccess
		if http[code] >= 500 {
			want = c.ClassFailure
		}
		if v.Class != want || v.GRPCStatus != strconv.Itoa(code) || v.Error != "" {
			t.Errorf("grpc-status %d: %+v, want class %s", code, v, want)
		}
	}
}

func TestIsGRPC(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/grpc": true, "application/grpc+proto": true, "application/grpc+json": true,
		"Application/GRPC; charset=utf-8": true, "application/grpc-web": false, "application/grpc-web+proto": false,
		"application/grpc-web-text": false, "application/json": false, "": false, "application/grpcx": false,
		" \tapplication/grpc ;a=b": true, "text/plain; x=application/grpc": false, "application/grp": false,
		// U+0130 lower-cases to 'i', as mime.ParseMediaType reads it.
		"appl\u0130cation/grpc": true, "appl\u0130cation/json": false,
	} {
		if got := metrics.IsGRPC(ct); got != want {
			t.Errorf("IsGRPC(%q) = %v", ct, got)
		}
		if ref := referenceIsGRPC(ct); ref != want {
			t.Errorf("the full parse says %q is gRPC: %v; the table is wrong", ct, ref)
		}
	}
}

// referenceIsGRPC is IsGRPC without its fast rejection.
func referenceIsGRPC(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/grpc" || strings.HasPrefix(mt, "application/grpc+"))
}

type info struct{ anchors atomic.Value }

func (i *info) AnchorsLabel() string { return i.anchors.Load().(string) }
func (i *info) IssuerLabel() string  { return "iss" }

func TestLabelsAndBuildInfo(t *testing.T) {
	in := &info{}
	in.anchors.Store("aa")
	m := metrics.New("1.2.3", in)
	now := time.Unix(1000, 0)
	m.Now = func() time.Time { return now }
	id := "spiffe://td/ns/a/sa/web"
	m.ObserveRequest(metrics.Request{Direction: c.DirectionInbound, Outcome: metrics.Outcome{Status: 200}, PeerIdentity: id, TLS: true, Latency: 300 * time.Microsecond})
	m.ObserveRequest(metrics.Request{Direction: c.DirectionInbound, Outcome: metrics.Outcome{Status: 503}, PeerIdentity: id, TLS: true, Latency: time.Millisecond})
	m.ObserveRequest(metrics.Request{Direction: c.DirectionOutbound, Dst: metrics.Dst{Namespace: c.DstExternal, Service: c.DstExternal}, Outcome: metrics.Outcome{Status: 502, Error: c.ErrorConnect}})
	m.ObserveRequest(metrics.Request{Direction: c.DirectionInbound, Outcome: metrics.Outcome{Status: 200, GRPC: true, GRPCStatus: "14"}, PeerIdentity: id, TLS: true})
	conn := m.ConnOpened(c.DirectionOutbound, false, metrics.Dst{Namespace: "shop", Service: "db"})
	conn.Read(10)
	conn.Wrote(7)

	in.anchors.Store("aa,bb") // rotation: the next scrape shows only the new value
	want := `
# HELP meshkeeper_proxy_build_info Proxy version, trusted anchors and current issuer (SHA-256 fingerprints).
# TYPE meshkeeper_proxy_build_info gauge
meshkeeper_proxy_build_info{issuer="iss",trust_anchors="aa,bb",version="1.2.3"} 1
# HELP meshkeeper_proxy_requests_total HTTP requests proxied, by outcome.
# TYPE meshkeeper_proxy_requests_total counter
meshkeeper_proxy_requests_total{classification="failure",direction="inbound",dst_namespace="",dst_service="",error="",grpc_status="",peer_identity="spiffe://td/ns/a/sa/web",status_code="503",tls="true"} 1
meshkeeper_proxy_requests_total{classification="failure",direction="inbound",dst_namespace="",dst_service="",error="",grpc_status="14",peer_identity="spiffe://td/ns/a/sa/web",status_code="200",tls="true"} 1
meshkeeper_proxy_requests_total{classification="failure",direction="outbound",dst_namespace="external",dst_service="external",error="connect",grpc_status="",peer_identity="",status_code="502",tls="false"} 1
meshkeeper_proxy_requests_total{classification="success",direction="inbound",dst_namespace="",dst_service="",error="",grpc_status="",peer_identity="spiffe://td/ns/a/sa/web",status_code="200",tls="true"} 1
# HELP meshkeeper_proxy_tcp_bytes_total Bytes relayed on the mesh side of accepted connections.
# TYPE meshkeeper_proxy_tcp_bytes_total counter
meshkeeper_proxy_tcp_bytes_total{direction="outbound",dst_namespace="shop",dst_service="db",flow="read",tls="false"} 10
meshkeeper_proxy_tcp_bytes_total{direction="outbound",dst_namespace="shop",dst_service="db",flow="write",tls="false"} 7
# HELP meshkeeper_proxy_tcp_open_connections TCP connections open now.
# TYPE meshkeeper_proxy_tcp_open_connections gauge
meshkeeper_proxy_tcp_open_connections{direction="outbound",dst_namespace="shop",dst_service="db",tls="false"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		c.MetricBuildInfo, c.MetricRequestsTotal, c.MetricTCPBytesTotal, c.MetricTCPOpenConnections); err != nil {
		t.Fatal(err)
	}
	now = now.Add(90 * time.Second) // a 90 s session
	conn.Closed()
	closed := `
# HELP meshkeeper_proxy_tcp_connection_duration_seconds How long accepted connections stayed open, seconds, observed at close.
# TYPE meshkeeper_proxy_tcp_connection_duration_seconds histogram
meshkeeper_proxy_tcp_connection_duration_seconds_bucket{direction="outbound",dst_namespace="shop",dst_service="db",tls="false",le="0.001"} 0
meshkeeper_proxy_tcp_connection_duration_seconds_bucket{direction="outbound",dst_namespace="shop",dst_service="db",tls="false",le="0.01"} 0
meshkeeper_proxy_tcp_connection_duration_seconds_bucket{direction="outbound",dst_namespace="shop",dst_service="db",tls="false",le="0.1"} 0
meshkeeper_proxy_tcp_connection_duration_seconds_bucket{direction="outbound",dst_namespace="shop",dst_service="db",tls="false",le="1"} 0
meshkeeper_proxy_tcp_connection_duration_seconds_bucket{direction="outbound",dst_namespace="shop",dst_service="db",tls="false",le="10"} 0
meshkeeper_proxy_tcp_connection_duration_seconds_bucket{direction="outbound",dst_namespace="shop",dst_service="db",tls="false",le="60"} 0
meshkeeper_proxy_tcp_connection_duration_seconds_bucket{direction="outbound",dst_namespace="shop",dst_service="db",tls="false",le="300"} 1
meshkeeper_proxy_tcp_connection_duration_seconds_bucket{direction="outbound",dst_namespace="shop",dst_service="db",tls="false",le="900"} 1
meshkeeper_proxy_tcp_connection_duration_seconds_bucket{direction="outbound",dst_namespace="shop",dst_service="db",tls="false",le="3600"} 1
meshkeeper_proxy_tcp_connection_duration_seconds_bucket{direction="outbound",dst_namespace="shop",dst_service="db",tls="false",le="+Inf"} 1
meshkeeper_proxy_tcp_connection_duration_seconds_sum{direction="outbound",dst_namespace="shop",dst_service="db",tls="false"} 90
meshkeeper_proxy_tcp_connection_duration_seconds_count{direction="outbound",dst_namespace="shop",dst_service="db",tls="false"} 1
# HELP meshkeeper_proxy_tcp_open_connections TCP connections open now.
# TYPE meshkeeper_proxy_tcp_open_connections gauge
meshkeeper_proxy_tcp_open_connections{direction="outbound",dst_namespace="shop",dst_service="db",tls="false"} 0
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(closed), c.MetricTCPOpenConnections, c.MetricTCPConnectionDuration); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(m.Registry, c.MetricRequestDuration); err != nil || n != 3 {
		t.Fatalf("latency series = %d, %v", n, err)
	}
}

// TestRepeatedRequestsCountOnTheirOwnSeries: a request lands on the series of
// exactly its labels however often the same labels come back (series are
// cached), and the latency histogram, which has no status label, sums them.
func TestRepeatedRequestsCountOnTheirOwnSeries(t *testing.T) {
	in := &info{}
	in.anchors.Store("aa")
	m := metrics.New("1", in)
	r := metrics.Request{Direction: c.DirectionInbound, Outcome: metrics.Outcome{Status: 200}, PeerIdentity: "spiffe://td/a", TLS: true}
	for range 3 {
		m.ObserveRequest(r)
	}
	r.Status = 201
	m.ObserveRequest(r)
	r.TLS = false
	m.ObserveRequest(r)
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetName() {
			case c.MetricRequestsTotal:
				got["requests "+labels[c.LabelStatusCode]+" tls="+labels[c.LabelTLS]] = s.GetCounter().GetValue()
			case c.MetricRequestDuration:
				got["latency tls="+labels[c.LabelTLS]] = float64(s.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"requests 200 tls=true": 3, "requests 201 tls=true": 1, "requests 201 tls=false": 1,
		"latency tls=true": 4, "latency tls=false": 1,
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
