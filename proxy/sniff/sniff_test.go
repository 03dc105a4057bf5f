package sniff_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

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
