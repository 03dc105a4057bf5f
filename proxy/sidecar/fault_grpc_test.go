//go:build meshkeeper_faults

package sidecar_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// Run with -tags meshkeeper_faults (make test-proxy does).
// TestGRPCFaultInjection: the test-only fault answers gRPC calls the way a
// failing gRPC server does, UNAVAILABLE with HTTP 200, and it is counted as
// a failure with grpc_status 14 (what an upgrade gate on gRPC traffic sees).
func TestGRPCFaultInjection(t *testing.T) {
	ca := testpki.NewCA(t, "anchor")
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM(), fault: 1})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(startGRPCApp(t))
	cc, err := grpc.NewClient("passthrough:///"+service, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", client.outbound)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for range 4 {
		_, err := testgrpc.NewTestServiceClient(cc).UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
		if status.Code(err) != codes.Unavailable || status.Convert(err).Message() != "fault injected by the meshkeeper proxy" {
			t.Fatalf("call: %v", err)
		}
	}
	g := &grpcMesh{client: client, server: server}
	g.expect(t, 4, map[string]string{contract.LabelClassification: contract.ClassFailure, contract.LabelGRPCStatus: "14", contract.LabelStatusCode: "200"})
	if got := server.sum(t, contract.MetricRequestsTotal, map[string]string{contract.LabelError: contract.ErrorFaultInjected}); got != 4 {
		t.Fatalf("server counted %v injected faults", got)
	}
}
