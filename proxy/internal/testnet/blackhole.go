// Package testnet makes loopback network conditions for the proxy's tests.
// It is never linked into the proxy.
package testnet

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// Blackhole returns a loopback address whose TCP connects hang, as they do to
// the IP of a pod that just went away: a listener that never accepts, with an
// accept queue of one that is already full, so the kernel drops further SYNs.
func Blackhole(t testing.TB) netip.AddrPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*syscall.SockaddrInet4).Port))
	for range 8 { // fill the queue until a connect no longer completes
		c, err := net.DialTimeout("tcp", addr.String(), 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Fatalf("connects to %s never hung", addr)
	return addr
}
