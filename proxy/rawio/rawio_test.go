package rawio_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/testsupport"
	"github.com/meshkeeper/meshkeeper/proxy/rawio"
)

// pair returns a wrapped client connection and the server's end (plain).
func pair(t *testing.T) (*rawio.Conn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	rc, ok := rawio.Wrap(c).(*rawio.Conn)
	if !ok {
		t.Fatal("a *net.TCPConn was not wrapped")
	}
	t.Cleanup(func() { rc.Close(); s.Close() })
	return rc, s.(*net.TCPConn)
}

func TestReadWriteAndEndOfStream(t *testing.T) {
	c, s := pair(t)
	if n, err := c.Write([]byte("ping")); n != 4 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("server read %q, %v", buf, err)
	}
	go func() { _, _ = s.Write([]byte("pong")); _ = s.CloseWrite() }()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "pong" {
		t.Fatalf("client read %q, %v; want pong then io.EOF", got, err)
	}
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read after the end: %d, %v; want io.EOF", n, err)
	}
}

func TestReadDeadlineIsATimeout(t *testing.T) {
	c, _ := pair(t)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v; want a timeout (os.ErrDeadlineExceeded)", err)
	}
	// The connection stays usable once the deadline moves.
	_ = c.SetReadDeadline(time.Time{})
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("write after a read timeout: %v", err)
	}
}

func TestCloseWakesAParkedRead(t *testing.T) {
	c, _ := pair(t)
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the read park in the poller
	_ = c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("parked read after Close: %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the parked read")
	}
}

// A write larger than the socket buffers waits for the reader and resumes
// where it stopped, while a read runs on the same connection (full duplex).
func TestLargeWriteWaitsForTheReaderFullDuplex(t *testing.T) {
	c, s := pair(t)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	var wg sync.WaitGroup
	wg.Add(3)
	var echoed []byte
	go func() { // the server echoes everything back, slowly at first
		defer wg.Done()
		time.Sleep(50 * time.Millisecond)
		_, _ = io.CopyN(s, s, int64(len(payload)))
	}()
	go func() {
		defer wg.Done()
		echoed = make([]byte, len(payload))
		_, _ = io.ReadFull(c, echoed)
	}()
	var n int
	var werr error
	go func() {
		defer wg.Done()
		n, werr = c.Write(payload)
	}()
	wg.Wait()
	if n != len(payload) || werr != nil {
		t.Fatalf("write: %d of %d, %v", n, len(payload), werr)
	}
	if !bytes.Equal(echoed, payload) {
		t.Fatal("echoed bytes differ from those written")
	}
}

// Writing to a connection the peer reset fails with an error; no SIGPIPE
// stops the process.
func TestWriteToAResetPeerFails(t *testing.T) {
	c, s := pair(t)
	_ = s.SetLinger(0)
	_ = s.Close() // RST
	time.Sleep(20 * time.Millisecond)
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = c.Write(bytes.Repeat([]byte("x"), 64<<10))
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("write to a reset peer: %v; want EPIPE or ECONNRESET", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Fatalf("error %v is not a write *net.OpError", err)
	}
}

func TestQuiet(t *testing.T) {
	c, s := pair(t)
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if !rawio.Quiet(raw) {
		t.Fatal("an idle connection is not quiet")
	}
	_, _ = s.Write([]byte("x"))
	waitUntil(t, func() bool { return !rawio.Quiet(raw) }, "a pending byte")
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil || buf[0] != 'x' {
		t.Fatalf("the peeked byte was consumed: %q, %v", buf, err)
	}
	if !rawio.Quiet(raw) {
		t.Fatal("not quiet once the byte was read")
	}
	_ = s.Close()
	waitUntil(t, func() bool { return !rawio.Quiet(raw) }, "the peer's close")
}

func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	testsupport.Until(t, what, 5*time.Second, cond)
}

func TestReadAndWriteAllocateNothing(t *testing.T) {
	c, s := pair(t)
	msg, buf := []byte("0123456789"), make([]byte, 10)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per round trip, want 0", allocs)
	}
}

func TestWrapLeavesOtherConnectionsAlone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if rawio.Wrap(a) != a {
		t.Fatal("a non-TCP connection was wrapped")
	}
}
