// Package origdst recovers where a redirected connection was originally
// going: the NAT redirect rules proxy-init writes rewrite the destination to
// the proxy, and conntrack remembers the original one.
package origdst

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// Resolver returns a connection's original destination.
type Resolver interface {
	OriginalDst(conn net.Conn) (netip.AddrPort, error)
}

// Kernel asks conntrack with SO_ORIGINAL_DST (IPv4) or IP6T_SO_ORIGINAL_DST (IPv6).
type Kernel struct{}

// soOriginalDst is SO_ORIGINAL_DST from linux/netfilter_ipv4.h (also IP6T_SO_ORIGINAL_DST).
const soOriginalDst = 80

func (Kernel) OriginalDst(conn net.Conn) (netip.AddrPort, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return netip.AddrPort{}, errors.New("connection exposes no socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	local, _ := conn.LocalAddr().(*net.TCPAddr)
	v6 := local != nil && local.IP.To4() == nil
	var dst netip.AddrPort
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		if v6 {
			mreq, e := unix.GetsockoptIPv6MTUInfo(int(fd), unix.SOL_IPV6, soOriginalDst)
			if e != nil {
				sockErr = e
				return
			}
			sa := mreq.Addr
			var p [2]byte // the port field holds network byte order
			binary.NativeEndian.PutUint16(p[:], sa.Port)
			port := binary.BigEndian.Uint16(p[:])
			dst = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
			return
		}
		mreq, e := unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, soOriginalDst)
		if e != nil {
			sockErr = e
			return
		}
		// The kernel fills a sockaddr_in: family(2) port(2, big endian) addr(4).
		b := mreq.Multiaddr
		port := uint16(b[2])<<8 | uint16(b[3])
		dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{b[4], b[5], b[6], b[7]}), port)
	})
	if err != nil {
		return netip.AddrPort{}, err
	}
	if sockErr != nil {
		return netip.AddrPort{}, fmt.Errorf("SO_ORIGINAL_DST: %w", sockErr)
	}
	return dst, nil
}

// Fixed answers the same destination for every connection (tests, and
// loopback benchmarks where no NAT rule exists).
type Fixed netip.AddrPort

func (f Fixed) OriginalDst(net.Conn) (netip.AddrPort, error) { return netip.AddrPort(f), nil }
