package sniff_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/metrics"
	"github.com/meshkeeper/meshkeeper/proxy/rawio"
	"github.com/meshkeeper/meshkeeper/proxy/sniff"
)

func TestPeekReplaysPrefix(t *testing.T) {
	tests := []struct {
		name       string
		send       [][]byte
		closeAfter bool
		limit      int
		enough     int
		wantPrefix string
	}{
		{"enough across two writes", [][]byte{[]byte("GET "), []byte("/ HTTP/1.1\r\n")}, false, 1024, 8, "GET / HTTP/1.1\r\n"},
		{"limit caps the prefix", [][]byte{[]byte("0123456789")}, true, 4, 100, "0123"},
		{"client half-closes early", [][]byte{[]byte("ab")}, true, 1024, 100, "ab"},
		{"server-first: nothing sent, timeout", nil, false, 1024, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tcpPair(t)
			go func() {
				for _, s := range tt.send {
					_, _ = a.Write(s)
				}
				if tt.closeAfter {
					_ = a.(*net.TCPConn).CloseWrite()
				}
			}()
			c, err := sniff.Peek(b, 50*time.Millisecond, tt.limit, func(p []byte) bool { return len(p) >= tt.enough })
			if err != nil {
				t.Fatal(err)
			}
			all := bytes.Join(tt.send, nil)
			if !bytes.HasPrefix(all, c.Prefix()) || !bytes.HasPrefix(c.Prefix(), []byte(tt.wantPrefix)) {
				t.Fatalf("prefix %q", c.Prefix())
			}
			// Everything the client sent is read back, in order, prefix first.
			_ = a.(*net.TCPConn).CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, all) {
				t.Fatalf("replayed %q, %v; want %q", got, err, all)
			}
		})
	}
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// A client that sent at once, read by a goroutine that ran only after the
// timeout (a starved CPU): its bytes are sniffed, not mistaken for a
// server-first silence that would make an HTTP connection opaque.
func TestPeekLateReaderStillSeesWhatWasSent(t *testing.T) {
	a, b := tcpPair(t)
	if _, err := a.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the bytes are in b's socket buffer
	// As the listeners hand it over: raw socket calls, counted bytes.
	conn := metrics.CountConn(rawio.Wrap(b), metrics.New("test", noInfo{}).ConnOpened("outbound", false, metrics.Dst{}))
	c, err := sniff.Peek(conn, time.Nanosecond, 1024, func(p []byte) bool { return len(p) >= 16 })
	if err != nil {
		t.Fatal(err)
	}
	if got := string(c.Prefix()); got != "GET / HTTP/1.1\r\n" {
		t.Fatalf("prefix %q, want what the client sent", got)
	}
}

type noInfo struct{}

func (noInfo) AnchorsLabel() string { return "" }
func (noInfo) IssuerLabel() string  { return "" }
