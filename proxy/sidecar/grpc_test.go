package sidecar_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// grpcApp is a real grpc-go server: UnaryCall and StreamingOutputCall answer
// with the status the request asks for, after the messages it asks for.
type grpcApp struct {
	testgrpc.UnimplementedTestServiceServer
	// release unblocks a StreamingOutputCall that asked to hang (interval -1).
	release chan struct{}
}

func (grpcApp) UnaryCall(_ context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if s := req.GetResponseStatus(); s.GetCode() != 0 {
		return nil, status.Error(codes.Code(s.GetCode()), s.GetMessage())
	}
	return &testgrpc.SimpleResponse{Payload: req.GetPayload()}, nil
}

func (a grpcApp) StreamingOutputCall(req *testgrpc.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	for _, p := range req.GetResponseParameters() {
		if p.GetIntervalUs() < 0 { // hang until the client leaves
			<-stream.Context().Done()
			return stream.Context().Err()
		}
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: make([]byte, p.GetSize())}}); err != nil {
			return err
		}
	}
	if s := req.GetResponseStatus(); s.GetCode() != 0 {
		return status.Error(codes.Code(s.GetCode()), s.GetMessage())
	}
	return nil
}

func startGRPCApp(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(srv, grpcApp{})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return netip.MustParseAddrPort(ln.Addr().String())
}

// startResettingApp answers every gRPC call with headers and one message,
// then resets the stream (RST_STREAM INTERNAL_ERROR) instead of trailers.
func startResettingApp(t *testing.T) netip.AddrPort {
	t.Helper()
	msg, _ := proto.Marshal(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: []byte("x")}})
	frame := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(msg)))
	copy(frame[5:], msg)
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: protocols, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		_, _ = w.Write(frame)
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // net/http resets the stream
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return netip.MustParseAddrPort(ln.Addr().String())
}

// grpcMesh is a grpc-go client whose calls go client proxy → mTLS → server
// proxy → app.
type grpcMesh struct {
	client, server *proxy
	tc             testgrpc.TestServiceClient
}

// startGRPCMesh starts a proxy pair in front of app. The server proxy keeps
// the app of a connection for its life, so every app gets its own pair.
func startGRPCMesh(t *testing.T, app netip.AddrPort) *grpcMesh {
	ca := testpki.NewCA(t, "anchor")
	server := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, serverID)), anchor: ca.PEM()})
	client := startProxy(t, proxyOpts{certs: newCerts(ca.Leaf(t, clientID)), anchor: ca.PEM()})
	client.route(service, server.inbound, serverID)
	server.dst.set(app)
	cc, err := grpc.NewClient("passthrough:///"+service, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", client.outbound)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return &grpcMesh{client: client, server: server, tc: testgrpc.NewTestServiceClient(cc)}
}

// expect checks that both proxies counted n requests with these labels.
func (g *grpcMesh) expect(t *testing.T, n float64, labels map[string]string) {
	t.Helper()
	for _, p := range []struct {
		name string
		px   *proxy
		dir  string
	}{{"client", g.client, contract.DirectionOutbound}, {"server", g.server, contract.DirectionInbound}} {
		want := map[string]string{contract.LabelDirection: p.dir}
		for k, v := range labels {
			want[k] = v
		}
		var got float64
		deadline := time.Now().Add(5 * time.Second)
		for got = p.px.sum(t, contract.MetricRequestsTotal, want); got != n && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			got = p.px.sum(t, contract.MetricRequestsTotal, want)
		}
		if got != n {
			t.Fatalf("%s proxy counted %v requests with %v, want %v\n%s", p.name, got, want, n, p.px.series(t, contract.MetricRequestsTotal))
		}
	}
}

// TestGRPCClassification runs a real grpc-go client and server through two
// proxies and checks both proxies classify each call as the client sees it.
func TestGRPCClassification(t *testing.T) {
	g := startGRPCMesh(t, startGRPCApp(t))
	tc, expect, ctx := g.tc, g.expect, context.Background()

	t.Run("unary client error NOT_FOUND is a success with grpc_status 5", func(t *testing.T) {
		for range 10 {
			_, err := tc.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.NotFound), Message: "no such thing"}})
			if status.Code(err) != codes.NotFound {
				t.Fatalf("call: %v", err)
			}
		}
		expect(t, 10, map[string]string{contract.LabelClassification: contract.ClassSuccess, contract.LabelGRPCStatus: "5", contract.LabelStatusCode: "200"})
	})

	t.Run("unary trailers-only UNAVAILABLE is a failure", func(t *testing.T) {
		for range 3 {
			_, err := tc.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.Unavailable), Message: "down"}})
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("call: %v", err)
			}
		}
		expect(t, 3, map[string]string{contract.LabelClassification: contract.ClassFailure, contract.LabelGRPCStatus: "14", contract.LabelStatusCode: "200"})
	})

	t.Run("unary OK is a success with grpc_status 0", func(t *testing.T) {
		if _, err := tc.UnaryCall(ctx, &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("hi")}}); err != nil {
			t.Fatal(err)
		}
		expect(t, 1, map[string]string{contract.LabelClassification: contract.ClassSuccess, contract.LabelGRPCStatus: "0", contract.LabelError: ""})
	})

	t.Run("server stream: INTERNAL in trailers after data is a failure", func(t *testing.T) {
		params := []*testgrpc.ResponseParameters{{Size: 10}, {Size: 20}, {Size: 30}}
		stream, err := tc.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: params,
			ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.Internal), Message: "broke late"}})
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for {
			_, err := stream.Recv()
			if err != nil {
				if status.Code(err) != codes.Internal {
					t.Fatalf("stream ended with %v", err)
				}
				break
			}
			got++
		}
		if got != 3 {
			t.Fatalf("received %d messages, want 3", got)
		}
		expect(t, 1, map[string]string{contract.LabelClassification: contract.ClassFailure, contract.LabelGRPCStatus: "13"})
	})

	t.Run("server stream that ends OK is a success", func(t *testing.T) {
		stream, err := tc.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 5}, {Size: 5}}})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := stream.Recv(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				break
			}
		}
		expect(t, 2, map[string]string{contract.LabelClassification: contract.ClassSuccess, contract.LabelGRPCStatus: "0"})
	})

	t.Run("client cancels a stream it has data from: success, error client_cancel", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		stream, err := tc.StreamingOutputCall(cctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 5}, {IntervalUs: -1}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
			t.Fatalf("after cancel: %v", err)
		}
		expect(t, 1, map[string]string{contract.LabelClassification: contract.ClassSuccess, contract.LabelError: contract.ErrorClientCancel, contract.LabelStatusCode: "200"})
	})

	t.Run("client gives up before any answer: failure, error client_cancel", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		stream, err := tc.StreamingOutputCall(cctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{IntervalUs: -1}}})
		if err != nil {
			t.Fatal(err)
		}
		go func() { time.Sleep(100 * time.Millisecond); cancel() }()
		if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
			t.Fatalf("after cancel: %v", err)
		}
		// grpc-go sends response headers only with the first message or the
		// status, so nothing was answered.
		expect(t, 1, map[string]string{contract.LabelClassification: contract.ClassFailure, contract.LabelError: contract.ErrorClientCancel, contract.LabelStatusCode: ""})
	})

}

// TestGRPCStreamReset: a stream the server resets after data is a failure.
func TestGRPCStreamReset(t *testing.T) {
	g := startGRPCMesh(t, startResettingApp(t))
	tc, expect, ctx := g.tc, g.expect, context.Background()
	{
		stream, err := tc.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatalf("first message: %v", err)
		}
		if _, err := stream.Recv(); status.Code(err) != codes.Internal {
			t.Fatalf("after reset: %v", err)
		}
		expect(t, 1, map[string]string{contract.LabelClassification: contract.ClassFailure, contract.LabelError: contract.ErrorUpstreamReset, contract.LabelStatusCode: "200", contract.LabelGRPCStatus: ""})
	}
}
