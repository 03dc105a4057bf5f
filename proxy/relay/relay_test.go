package relay_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"

	"github.com/meshkeeper/meshkeeper/proxy/relay"
)

// TestPipeHalfClose sends a request, half-closes, and expects the full
// response after the half-close, as line-based protocols do.
func TestPipeHalfClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Server: read everything until EOF, answer with its reverse length.
	payload := make([]byte, 1<<20)
	_, _ = rand.Read(payload)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		got, _ := io.ReadAll(c)
		_, _ = c.Write(got)
		c.Close()
	}()
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	go func() {
		down, err := front.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			down.Close()
			return
		}
		relay.Pipe(down, up)
	}()
	c, err := net.Dial("tcp", front.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		_, _ = c.Write(payload)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	echo, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(echo, payload) {
		t.Fatalf("echo of %d bytes came back as %d bytes, err %v", len(payload), len(echo), err)
	}
}
