package netinit

import (
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/origdst"
)

// TestApplyInThrowawayNetns installs the rules twice in a fresh network
// namespace, then proves the output redirect and SO_ORIGINAL_DST work for
// real. It needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and skips otherwise.
func TestApplyInThrowawayNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	result := make(chan error, 1)
	var skip string
	go func() {
		// The goroutine's thread moves into the new namespace and is never
		// unlocked, so Go discards the thread when the goroutine ends.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			skip = "cannot create a network namespace: " + err.Error()
			result <- nil
			return
		}
		result <- inNetns(t)
	}()
	err := <-result
	if skip != "" {
		t.Skip(skip)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func inNetns(t *testing.T) error {
	conn, err := nftables.New()
	if err != nil {
		return err
	}
	cfg := Config{ProxyUID: contract.ProxyUID, InboundPort: contract.ProxyInboundPort, OutboundPort: contract.ProxyOutboundPort,
		AdminPort: contract.ProxyAdminPort, SkipOutboundPorts: []uint16{3306}}
	plan := Plan(cfg)
	for i := 0; i < 2; i++ { // idempotent: the second run replaces the first
		if err := Apply(conn, plan); err != nil {
			return err
		}
	}
	counts, err := Installed(conn)
	if err != nil {
		return err
	}
	if counts[Prerouting] != 3 || counts[Output] != 5 {
		t.Errorf("installed %v, want 3 prerouting and 5 output rules (loopback per family)", counts)
	}
	tables, err := conn.ListTables()
	if err != nil {
		return err
	}
	if len(tables) != 1 || tables[0].Name != TableName || tables[0].Family != nftables.TableFamilyINet {
		t.Errorf("tables after two runs: %d, want one inet table %s", len(tables), TableName)
	}

	// A pod-like address on lo, and the outbound listener on loopback.
	if err := linkUpWithAddr("lo", "lo:1", [4]byte{198, 18, 99, 1}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:4140")
	if err != nil {
		return err
	}
	defer ln.Close()
	accepted := make(chan netip.AddrPort, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		dst, err := origdst.Kernel{}.OriginalDst(c)
		if err != nil {
			t.Errorf("SO_ORIGINAL_DST: %v", err)
		}
		accepted <- dst
		_, _ = io.WriteString(c, "redirected")
	}()
	// The app (root here, not the proxy uid) connects to a non-loopback
	// address: the output rule must redirect it to 4140.
	c, err := net.Dial("tcp", "198.18.99.1:80")
	if err != nil {
		return err
	}
	defer c.Close()
	got, _ := io.ReadAll(c)
	if string(got) != "redirected" {
		t.Errorf("connection not redirected to the outbound port: %q", got)
	}
	if dst := <-accepted; dst != netip.MustParseAddrPort("198.18.99.1:80") {
		t.Errorf("original destination %v", dst)
	}
	return nil
}

// linkUpWithAddr brings a link up and adds an IPv4 alias address to it.
func linkUpWithAddr(link, alias string, addr [4]byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(link)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return err
	}
	al, err := unix.NewIfreq(alias)
	if err != nil {
		return err
	}
	if err := al.SetInet4Addr(addr[:]); err != nil {
		return err
	}
	return unix.IoctlIfreq(fd, unix.SIOCSIFADDR, al)
}
