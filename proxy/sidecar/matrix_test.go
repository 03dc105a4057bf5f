package sidecar_test

import (
	"encoding/json"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// TestProtocolMatrixLoopback runs the e2e protocol matrix's own programs —
// sampleapp protocheck against sampleapp protocols (100 MiB chunked upload
// and download with checksums, h2c, grpc-go unary and streams, websocket,
// incremental SSE, a banner on an opaque port) — through proxy pairs on
// loopback, one pair per port (the harness gives a proxy one destination),
// and checks the counts the e2e test checks on the cluster.
func TestProtocolMatrixLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sample app")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain to build the sample app")
	}
	bin := filepath.Join(t.TempDir(), "sampleapp")
	if out, err := exec.Command(gobin, "build", "-o", bin, "../../test/apps/sampleapp").CombinedOutput(); err != nil {
		t.Fatalf("build sampleapp: %v\n%s", err, out)
	}
	ports := map[string]string{"http": freePort(t), "grpc": freePort(t), "banner": freePort(t)}
	srv := exec.Command(bin, "protocols", "-http", ports["http"], "-grpc", ports["grpc"], "-banner", ports["banner"])
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	waitFor(t, func() bool {
		c, err := net.Dial("tcp", ports["http"])
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	ca := testpki.NewCA(t, "anchor")
	banner := netip.MustParseAddrPort(ports["banner"]).Port()
	pairs := map[string]*grpcMesh{}
	for name, addr := range ports {
		server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM(), opaque: contract.PortRanges{{Lo: banner, Hi: banner}}})
		client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
		in := netip.MustParseAddrPort(server.inbound)
		client.store.Set(contract.DiscoverySnapshot{Services: map[string]contract.ServiceTarget{
			service: {Namespace: "e2e-mesh", Name: "protocols", Opaque: name == "banner",
				Endpoints: []contract.Endpoint{{IP: in.Addr().String(), Port: int32(in.Port()), Identity: serverID}}},
		}})
		client.dst.set(netip.MustParseAddrPort(service))
		server.dst.set(netip.MustParseAddrPort(addr))
		pairs[name] = &grpcMesh{client: client, server: server}
	}
	out, err := exec.Command(bin, "protocheck", "-host", "unused", "-http", pairs["http"].client.outbound,
		"-grpc", pairs["grpc"].client.outbound, "-banner", pairs["banner"].client.outbound, "-admin", "").CombinedOutput()
	var rep struct {
		Checks []struct {
			Name, Detail string
			OK           bool
			Ms           float64
		}
	}
	if i := strings.Index(string(out), "{"); i < 0 || json.Unmarshal(out[i:], &rep) != nil || len(rep.Checks) != 7 {
		t.Fatalf("protocheck: %v\n%s", err, out)
	}
	for _, c := range rep.Checks {
		t.Logf("%s ok=%v %s (%.1f ms)", c.Name, c.OK, c.Detail, c.Ms)
		if !c.OK {
			t.Errorf("%s failed: %s", c.Name, c.Detail)
		}
	}
	tls := map[string]string{contract.LabelTLS: "true"}
	with := func(m map[string]string) map[string]string {
		out := map[string]string{contract.LabelTLS: "true"}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	pairs["http"].expect(t, 1, with(map[string]string{contract.LabelStatusCode: "101", contract.LabelClassification: contract.ClassSuccess, contract.LabelError: ""}))
	pairs["http"].expect(t, 4, with(map[string]string{contract.LabelStatusCode: "200", contract.LabelGRPCStatus: "", contract.LabelClassification: contract.ClassSuccess, contract.LabelError: ""}))
	pairs["grpc"].expect(t, 11, with(map[string]string{contract.LabelGRPCStatus: "0", contract.LabelClassification: contract.ClassSuccess}))
	pairs["grpc"].expect(t, 10, with(map[string]string{contract.LabelGRPCStatus: "5", contract.LabelClassification: contract.ClassSuccess, contract.LabelStatusCode: "200"}))
	pairs["grpc"].expect(t, 5, with(map[string]string{contract.LabelGRPCStatus: "14", contract.LabelClassification: contract.ClassFailure, contract.LabelStatusCode: "200"}))
	pairs["grpc"].expect(t, 1, with(map[string]string{contract.LabelGRPCStatus: "13", contract.LabelClassification: contract.ClassFailure}))
	for name, p := range pairs {
		if f := p.client.sum(t, contract.MetricRequestsTotal, map[string]string{contract.LabelClassification: contract.ClassFailure}); name != "grpc" && f != 0 {
			t.Errorf("%s pair: %v failures\n%s", name, f, p.client.series(t, contract.MetricRequestsTotal))
		}
	}
	b := pairs["banner"]
	if n := b.server.sum(t, contract.MetricTCPConnectionsTotal, with(map[string]string{contract.LabelDirection: contract.DirectionInbound})); n != 1 {
		t.Errorf("banner: %v inbound mTLS connections", n)
	}
	if n := b.client.sum(t, contract.MetricRequestsTotal, tls) + b.server.sum(t, contract.MetricRequestsTotal, tls); n != 0 {
		t.Errorf("banner on an opaque port counted as %v requests", n)
	}
}

// freePort returns a loopback address nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
