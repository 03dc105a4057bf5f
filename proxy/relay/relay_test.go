package relay_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"

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
		relay.Pipe(down, up, relay.Options{})
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

// relayed returns the client end of a relay to a server handled by serve.
func relayed(t *testing.T, o relay.Options, serve func(net.Conn)) net.Conn {
	t.Helper()
	back, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	go func() {
		c, err := back.Accept()
		if err == nil {
			serve(c)
		}
	}()
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close() })
	go func() {
		down, err := front.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", back.Addr().String())
		if err != nil {
			down.Close()
			return
		}
		relay.Pipe(down, up, o)
	}()
	c, err := net.Dial("tcp", front.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPipeClosesIdleRelay: a connection that carries nothing either way is
// closed after the idle timeout, on both sides.
func TestPipeClosesIdleRelay(t *testing.T) {
	serverSaw := make(chan error, 1)
	c := relayed(t, relay.Options{Idle: 300 * time.Millisecond}, func(s net.Conn) {
		defer s.Close()
		_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := s.Read(make([]byte, 1))
		serverSaw <- err
	})
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) {
		t.Fatalf("idle relay: client read %v, want EOF from the relay closing", err)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("idle relay closed after %v", waited)
	}
	if err := <-serverSaw; !errors.Is(err, io.EOF) {
		t.Fatalf("idle relay: server read %v, want EOF", err)
	}
}

// TestPipeKeepsOneWayStream: a download longer than the idle timeout, with
// a silent client, is not cut: activity either way keeps the relay open.
func TestPipeKeepsOneWayStream(t *testing.T) {
	const chunks = 8
	c := relayed(t, relay.Options{Idle: 200 * time.Millisecond}, func(s net.Conn) {
		defer s.Close()
		for range chunks {
			if _, err := s.Write([]byte("tick")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	got, err := io.ReadAll(c)
	if err != nil || len(got) != 4*chunks {
		t.Fatalf("one-way stream of %d bytes over %d idle periods: got %d bytes, err %v", 4*chunks, chunks/2, len(got), err)
	}
}
