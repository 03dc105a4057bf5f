package netinit_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/config"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testlog"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
	"github.com/meshkeeper/meshkeeper/proxy/netinit"
	"github.com/meshkeeper/meshkeeper/proxy/origdst"
	"github.com/meshkeeper/meshkeeper/proxy/sidecar"
)

// The pod and a peer pod, joined by a veth pair, on an IPv6 ULA subnet.
var (
	podAddr  = netip.MustParseAddr("fd00:6d6b::2")
	peerAddr = netip.MustParseAddr("fd00:6d6b::1")
	// IPv4 too, for the dual-stack listeners' IPv4 side.
	podAddr4  = netip.MustParseAddr("198.18.66.2")
	peerAddr4 = netip.MustParseAddr("198.18.66.1")
)

// TestIPv6RedirectBetweenNamespaces builds two network namespaces joined by
// a veth pair with IPv6 addresses only, installs proxy-init's rules in the
// pod's, and shows that IPv6 is redirected as IPv4 is: inbound to the
// inbound port, outbound to the outbound port (on ::1), the original
// destinations recovered with IP6T_SO_ORIGINAL_DST (and SO_ORIGINAL_DST for
// IPv4 on the same dual-stack listener), skipped ports and the
// proxy's own user left alone, and a strict proxy refusing plaintext to the
// pod's IPv6 address. Needs root and the ip command.
func TestIPv6RedirectBetweenNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
	pod, peer := namespaces(t)

	// The pod: proxy-init's rules, a raw inbound and outbound listener in
	// place of the proxy, and the app on 80 and on a skipped port.
	cfg := netinit.Config{ProxyUID: contract.ProxyUID, InboundPort: contract.ProxyInboundPort, OutboundPort: contract.ProxyOutboundPort,
		AdminPort: contract.ProxyAdminPort, SkipInboundPorts: []uint16{22}, SkipOutboundPorts: []uint16{3306}}
	var in, out, app80, app22 net.Listener
	inNetns(t, pod, func() error {
		conn, err := nftables.New()
		if err != nil {
			return err
		}
		if err := netinit.Apply(conn, netinit.Plan(cfg)); err != nil {
			return err
		}
		in, err = listen(t, "[::]:4143")
		if err == nil {
			out, err = listen(t, "[::1]:4140")
		}
		if err == nil {
			app80, err = listen(t, "[::]:80")
		}
		if err == nil {
			app22, err = listen(t, "[::]:22")
		}
		return err
	})
	var peer80, peer3306 net.Listener
	inNetns(t, peer, func() (err error) {
		if peer80, err = listen(t, "[::]:80"); err == nil {
			peer3306, err = listen(t, "[::]:3306")
		}
		return err
	})

	t.Run("inbound IPv6 goes to the inbound port", func(t *testing.T) {
		dialFrom(t, peer, netip.AddrPortFrom(podAddr, 80))
		expectAccept(t, in, netip.AddrPortFrom(podAddr, 80))
		expectNoAccept(t, app80)
	})
	t.Run("inbound IPv4 goes to the same dual-stack listener", func(t *testing.T) {
		dialFrom(t, peer, netip.AddrPortFrom(podAddr4, 80))
		expectAccept(t, in, netip.AddrPortFrom(podAddr4, 80))
		expectNoAccept(t, app80)
	})
	t.Run("inbound skipped port reaches the app", func(t *testing.T) {
		dialFrom(t, peer, netip.AddrPortFrom(podAddr, 22))
		expectAccept(t, app22, netip.AddrPort{})
	})
	t.Run("outbound IPv6 goes to the outbound port", func(t *testing.T) {
		dialFrom(t, pod, netip.AddrPortFrom(peerAddr, 80))
		expectAccept(t, out, netip.AddrPortFrom(peerAddr, 80))
		expectNoAccept(t, peer80)
	})
	t.Run("outbound skipped port is direct", func(t *testing.T) {
		dialFrom(t, pod, netip.AddrPortFrom(peerAddr, 3306))
		expectAccept(t, peer3306, netip.AddrPort{})
	})
	t.Run("the proxy's own IPv6 connections are direct", func(t *testing.T) {
		dialAs(t, pod, contract.ProxyUID, netip.AddrPortFrom(peerAddr, 80))
		expectAccept(t, peer80, netip.AddrPort{})
		expectNoAccept(t, out)
	})
	t.Run("a strict proxy refuses plaintext to the pod's IPv6 address", func(t *testing.T) {
		in.Close()
		out.Close()
		logs := strictProxy(t, pod)
		c := dialFrom(t, peer, netip.AddrPortFrom(podAddr, 80))
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: web\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if resp, err := http1Response(c); err == nil {
			t.Fatalf("plaintext to a strict pod over IPv6 was answered: %s", resp)
		}
		expectNoAccept(t, app80)
		want := "refused non-mesh connection in strict mode.*dst=" + regexp.QuoteMeta(netip.AddrPortFrom(podAddr, 80).String())
		if !regexp.MustCompile(want).MatchString(logs.String()) {
			t.Fatalf("the proxy did not refuse it itself; its log:\n%s", logs)
		}

		// The app's IPv6 connection reaches the proxy's default outbound
		// listener on ::1, which knows where it was going. (The proxy's own
		// dial runs outside this test's namespace, so it fails there.)
		c = dialFrom(t, pod, netip.AddrPortFrom(peerAddr, 8080))
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, c)
		want = "outbound connect failed.*dst=" + regexp.QuoteMeta(netip.AddrPortFrom(peerAddr, 8080).String())
		if !regexp.MustCompile(want).MatchString(logs.String()) {
			t.Fatalf("the proxy's outbound listener did not get the IPv6 connection; its log:\n%s", logs)
		}
	})
}

// namespaces creates the pod and peer namespaces and their veth pair.
func namespaces(t *testing.T) (pod, peer string) {
	id := os.Getpid() % 100000
	pod, peer = fmt.Sprintf("mk6pod%d", id), fmt.Sprintf("mk6peer%d", id)
	podIf, peerIf := fmt.Sprintf("mk6p%d", id), fmt.Sprintf("mk6q%d", id)
	for _, ns := range []string{pod, peer} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	ipCmd(t, "link", "add", podIf, "type", "veth", "peer", "name", peerIf)
	for _, side := range []struct {
		ns, link    string
		addr, addr4 netip.Addr
	}{{pod, podIf, podAddr, podAddr4}, {peer, peerIf, peerAddr, peerAddr4}} {
		ipCmd(t, "link", "set", side.link, "netns", side.ns)
		ipCmd(t, "-n", side.ns, "addr", "add", side.addr.String()+"/64", "dev", side.link, "nodad")
		ipCmd(t, "-n", side.ns, "addr", "add", side.addr4.String()+"/24", "dev", side.link)
		ipCmd(t, "-n", side.ns, "link", "set", side.link, "up")
		ipCmd(t, "-n", side.ns, "link", "set", "lo", "up")
	}
	return pod, peer
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

// inNetns runs fn on a thread moved into the named namespace; sockets made
// there stay in it wherever they are used later. The thread is never
// unlocked, so Go discards it afterwards.
func inNetns(t *testing.T, ns string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := setns(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func setns(ns string) error {
	f, err := os.Open(filepath.Join("/var/run/netns", ns))
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

func listen(t *testing.T, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		t.Cleanup(func() { ln.Close() })
	}
	return ln, err
}

func dialFrom(t *testing.T, ns string, dst netip.AddrPort) net.Conn {
	t.Helper()
	var c net.Conn
	inNetns(t, ns, func() (err error) {
		c, err = net.DialTimeout("tcp", dst.String(), 3*time.Second)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// dialAs connects from a thread running as uid (a raw setresuid changes only
// the calling thread, which is then discarded).
func dialAs(t *testing.T, ns string, uid int, dst netip.AddrPort) {
	t.Helper()
	var c net.Conn
	inNetns(t, ns, func() (err error) {
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
			return e
		}
		c, err = net.DialTimeout("tcp", dst.String(), 3*time.Second)
		return err
	})
	t.Cleanup(func() { c.Close() })
}

// expectAccept waits for a connection on ln and, when want is set, checks
// its original destination.
func expectAccept(t *testing.T, ln net.Listener, want netip.AddrPort) {
	t.Helper()
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(3 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("no connection on %s: %v", ln.Addr(), err)
	}
	defer c.Close()
	if !want.IsValid() {
		return
	}
	got, err := origdst.Kernel{}.OriginalDst(c)
	if err != nil || got != want {
		t.Fatalf("original destination %v (err %v), want %v", got, err, want)
	}
}

func expectNoAccept(t *testing.T, ln net.Listener) {
	t.Helper()
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatalf("%s got a connection that should have gone to the proxy", ln.Addr())
	}
}

func http1Response(c net.Conn) (string, error) {
	line, err := bufio.NewReader(c).ReadString('\n')
	return line, err
}

type staticCerts struct{ cert *tls.Certificate }

func (s staticCerts) Current() *tls.Certificate { return s.cert }
func (s staticCerts) IssuerLabel() string       { return "" }

// strictProxy runs the real proxy, strict, with its default listeners in the
// pod's namespace, and returns its debug log.
func strictProxy(t *testing.T, pod string) *testlog.Buffer {
	t.Helper()
	ca := testpki.NewCA(t, "anchor")
	roots := filepath.Join(t.TempDir(), contract.TrustRootsKey)
	if err := os.WriteFile(roots, ca.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		// Run opens its default listeners on this thread, in the pod's
		// namespace; Go starts other threads from a clean template thread.
		runtime.LockOSThread()
		if err := setns(pod); err != nil {
			done <- err
			close(started)
			return
		}
		done <- sidecar.Run(ctx, sidecar.Options{
			Config: config.Config{TrustDomain: "cluster.local", TrustRootsPath: roots, PodNamespace: "app", ServiceAccount: "web", Strict: true},
			Log:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Certs:  staticCerts{ca.Leaf(t, contract.SPIFFEID("cluster.local", "app", "web"))}, Discovery: &discovery.Store{},
			Started: func(net.Addr, net.Addr, net.Addr) { close(started) },
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	<-started
	select {
	case err := <-done:
		t.Fatalf("proxy stopped: %v", err)
	default:
	}
	return logs
}
