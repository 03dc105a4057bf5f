package sidecar_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// TestPromtoolAcceptsMetrics runs gRPC (success, failure, stream), a
// websocket and plain HTTP through proxies, then has Prometheus's own linter
// check each proxy's /metrics. Without promtool it is skipped, unless
// MESHKEEPER_REQUIRE_PROMTOOL is set (make check-proxy-metrics sets it).
func TestPromtoolAcceptsMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("MESHKEEPER_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool not found (apt-get install prometheus)")
		}
		t.Skip("promtool not installed")
	}
	g := startGRPCMesh(t, startGRPCApp(t))
	ctx := context.Background()
	if _, err := g.tc.UnaryCall(ctx, &testgrpc.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err = g.tc.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.Unavailable)}})
	if status.Code(err) != codes.Unavailable {
		t.Fatal(err)
	}
	stream, err := g.tc.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = stream.Recv()
	}

	ws := startGRPCMesh(t, startWebsocketApp(t)) // a proxy pair in front of a websocket app
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, ws.client.outbound)
	}}
	conn, _, err := d.Dial("ws://"+service+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.WriteMessage(websocket.TextMessage, []byte("hi"))
	_, _, _ = conn.ReadMessage()
	_ = conn.Close()
	resp, err := clientVia(ws.client.outbound, false).Get("http://" + service + "/plain") // not an upgrade: 400 from the app
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	for _, p := range []*proxy{g.client, g.server, ws.client, ws.server} {
		_, body := get(t, "http://"+p.admin+contract.MetricsPath)
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader([]byte(body))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
}
