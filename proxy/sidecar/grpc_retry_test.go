package sidecar_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// TestGRPCUnaryIsRetriedWhenAnAppIsGone: of a gRPC service's two endpoints,
// one's app has exited (its proxy still answers, "app unavailable"), as in a
// rolling restart of an app that stops at once on SIGTERM. A real grpc-go
// client's unary calls (POSTs with a body) all succeed: the client's proxy
// sends them again to the live endpoint. A server stream still works.
func TestGRPCUnaryIsRetriedWhenAnAppIsGone(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	live := startGRPCApp(t)
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneAddr := netip.MustParseAddrPort(gone.Addr().String())
	_ = gone.Close() // nothing listens there: connections are refused
	serverA := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	serverB := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	serverA.dst.set(goneAddr)
	serverB.dst.set(live)
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	a, b := netip.MustParseAddrPort(serverA.inbound), netip.MustParseAddrPort(serverB.inbound)
	client.store.Set(contract.DiscoverySnapshot{Services: map[string]contract.ServiceTarget{
		service: {Endpoints: []contract.Endpoint{
			{IP: a.Addr().String(), Port: int32(a.Port()), Identity: serverID},
			{IP: b.Addr().String(), Port: int32(b.Port()), Identity: serverID},
		}},
	}})
	client.dst.set(netip.MustParseAddrPort(service))
	cc, err := grpc.NewClient("passthrough:///"+service, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", client.outbound)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	tc := testgrpc.NewTestServiceClient(cc)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 20 { // round robin: half of them meet the gone app first
		payload := &testgrpc.Payload{Body: []byte{byte(i), 1, 2, 3}}
		resp, err := tc.UnaryCall(ctx, &testgrpc.SimpleRequest{Payload: payload})
		if err != nil {
			t.Fatalf("unary call %d: %v", i, err)
		}
		if got := resp.GetPayload().GetBody(); len(got) != 4 || got[0] != byte(i) {
			t.Fatalf("unary call %d answered %v, want its own payload back", i, got)
		}
	}
	if got := client.metric(t, `meshkeeper_proxy_retries_total{result="sent"}`); got == "absent" {
		t.Fatal("no call was retried: none met the gone app")
	}
	for i := range 4 {
		stream, err := tc.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{
			ResponseParameters: []*testgrpc.ResponseParameters{{Size: 10}, {Size: 20}},
		})
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		for j := range 2 {
			if _, err := stream.Recv(); err != nil {
				t.Fatalf("stream %d message %d: %v", i, j, err)
			}
		}
	}
}
