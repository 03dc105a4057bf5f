package admin

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestLimitPerIP: one client address gets at most perIP connections; the
// next is closed at once, and served again once one of its others closes.
func TestLimitPerIP(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Limit(inner, 10, 2)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	dialEcho := func() (net.Conn, bool) {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		_, _ = c.Write([]byte("x"))
		_, err = io.ReadFull(c, make([]byte, 1))
		return c, err == nil
	}
	a, okA := dialEcho()
	b, okB := dialEcho()
	c, okC := dialEcho()
	defer b.Close()
	defer c.Close()
	if !okA || !okB || okC {
		t.Fatalf("served: %v %v %v; want the third from the same address refused", okA, okB, okC)
	}
	a.Close()
	time.Sleep(50 * time.Millisecond) // the echo goroutine closes its end
	d, okD := dialEcho()
	defer d.Close()
	if !okD {
		t.Fatal("not served after a slot of that address freed")
	}
}
