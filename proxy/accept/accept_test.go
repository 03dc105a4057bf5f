package accept

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestCapReclaimsOnlyTrulyIdle: at a cap of one, a connection marked idle
// is closed for a newcomer, unless bytes of its next request already wait
// in its socket (closing it would reset that request).
func TestCapReclaimsOnlyTrulyIdle(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pending   bool
		reclaimed bool
	}{{"idle, nothing waiting", false, true}, {"marked idle, a request waiting", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			accepted := make(chan net.Conn, 2)
			go func() {
				_ = Loop(ctx, ln, 1, nil, func(_ context.Context, c net.Conn) { accepted <- c })
			}()
			first, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer first.Close()
			held := <-accepted
			defer held.Close()
			if tc.pending {
				if _, err := first.Write([]byte("GET")); err != nil {
					t.Fatal(err)
				}
				time.Sleep(50 * time.Millisecond) // in the held socket's receive queue
			}
			held.(Idler).SetIdle(true)
			second, err := net.Dial("tcp", ln.Addr().String()) // completes in the kernel's queue
			if err != nil {
				t.Fatal(err)
			}
			defer second.Close()
			select {
			case c := <-accepted:
				defer c.Close()
				if !tc.reclaimed {
					t.Fatal("a connection with a waiting request was closed for a newcomer")
				}
				_ = first.SetReadDeadline(time.Now().Add(2 * time.Second))
				if _, err := first.Read(make([]byte, 1)); err != io.EOF {
					t.Fatalf("reclaimed connection: read %v, want EOF", err)
				}
			case <-time.After(500 * time.Millisecond):
				if tc.reclaimed {
					t.Fatal("an idle connection was not reclaimed for a newcomer")
				}
			}
		})
	}
}
