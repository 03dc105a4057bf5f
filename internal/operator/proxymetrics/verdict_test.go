package proxymetrics

import (
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/metrics"
)

type fixedInfo struct{}

func (fixedInfo) AnchorsLabel() string { return "aaa" }
func (fixedInfo) IssuerLabel() string  { return "iii" }

// TestParseReadsProxyVerdict renders the real proxy's metrics: gRPC calls
// answered with HTTP 200 are judged by the proxy's classification, so a
// NOT_FOUND passes and an UNAVAILABLE or a reset stream fails the gate.
func TestParseReadsProxyVerdict(t *testing.T) {
	m := metrics.New("0.2.0", fixedInfo{})
	obs := func(n int, o metrics.Outcome) {
		for range n {
			m.ObserveRequest(metrics.Request{Direction: c.DirectionInbound, Outcome: o, PeerIdentity: "spiffe://a", TLS: true})
		}
	}
	obs(10, metrics.Outcome{Status: 200, GRPC: true, GRPCStatus: "5"})
	obs(3, metrics.Outcome{Status: 200, GRPC: true, GRPCStatus: "14"})
	obs(1, metrics.Outcome{Status: 200, GRPC: true, Error: c.ErrorUpstreamReset})
	obs(2, metrics.Outcome{Status: 101})
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(&sb, f); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Parse(strings.NewReader(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inbound.Requests != 16 || rep.Inbound.Failures != 4 {
		t.Fatalf("inbound %+v, want 16 requests and 4 failures", rep.Inbound)
	}
}
