package sniff_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/detect"
	"github.com/meshkeeper/meshkeeper/proxy/sniff"
)

// TestLate: after a silent detection timeout, whoever speaks first decides;
// what either side sent is replayed, and a client speaking HTTP first leaves
// the server untouched.
func TestLate(t *testing.T) {
	const request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name         string
		client       string // sent by the client; "" sends nothing
		clientCloses bool
		server       string // sent by the server (first, when both send)
		want         detect.Protocol
		wantErr      bool
		replayClient string
		replayServer string
	}{
		{name: "client speaks HTTP first", client: request, want: detect.HTTP1, replayClient: request},
		{name: "client speaks HTTP/2 first", client: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", want: detect.HTTP2, replayClient: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{name: "server speaks first", server: "220 ready\r\n", want: detect.Opaque, replayServer: "220 ready\r\n"},
		{name: "client speaks something else", client: "\x00\x01\x02binary protocol hello", want: detect.Opaque, replayClient: "\x00\x01\x02binary protocol hello"},
		{name: "client ends its stream", clientCloses: true, want: detect.Opaque},
		{name: "neither speaks within idle", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clientApp, client := tcpPair(t)
			server, serverApp := tcpPair(t)
			defer clientApp.Close()
			defer serverApp.Close()
			if tt.server != "" {
				go func() { _, _ = io.WriteString(serverApp, tt.server) }()
			}
			if tt.client != "" {
				go func() { _, _ = io.WriteString(clientApp, tt.client) }()
			}
			if tt.clientCloses {
				_ = clientApp.(*net.TCPConn).CloseWrite()
			}
			c, s, p, err := sniff.Late(client, server, 50*time.Millisecond, 200*time.Millisecond)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error, protocol %v", p)
				}
				return
			}
			if err != nil || p != tt.want {
				t.Fatalf("protocol %v, error %v; want %v", p, err, tt.want)
			}
			if got := readFor(t, c, len(tt.replayClient)); got != tt.replayClient {
				t.Errorf("client replays %q, want %q", got, tt.replayClient)
			}
			if got := readFor(t, s, len(tt.replayServer)); got != tt.replayServer {
				t.Errorf("server replays %q, want %q", got, tt.replayServer)
			}
		})
	}
}

// readFor reads n bytes from c, failing the test if they do not come.
func readFor(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	if n == 0 {
		return ""
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return string(b)
}
