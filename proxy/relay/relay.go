// Package relay copies bytes between two connections, untouched, and passes a
// half-close from one side on to the other so request/response protocols
// that signal "done sending" by shutting down their write side keep working.
package relay

import (
	"io"
	"net"
)

type closeWriter interface{ CloseWrite() error }

// Pipe relays a↔b until both directions finish, then closes both.
func Pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	go copyHalf(b, a, done)
	go copyHalf(a, b, done)
	<-done
	<-done
	_ = a.Close()
	_ = b.Close()
}

func copyHalf(dst, src net.Conn, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	_, err := io.Copy(dst, src)
	if err != nil {
		// A reset or failed write: tear both down, the other copy returns too.
		_ = dst.Close()
		_ = src.Close()
		return
	}
	if cw, ok := dst.(closeWriter); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = dst.Close()
}
