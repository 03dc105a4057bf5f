package bench

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"syscall"

	"github.com/meshkeeper/meshkeeper/internal/buildinfo"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/config"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/origdst"
	"github.com/meshkeeper/meshkeeper/proxy/sidecar"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
)

const trustDomain = "bench.local"

func identityOf(role string) string { return contract.SPIFFEID(trustDomain, "bench", role) }

// staticCerts presents one certificate for the whole (short) benchmark.
type staticCerts struct{ cert *tls.Certificate }

func (s staticCerts) Current() *tls.Certificate { return s.cert }
func (s staticCerts) IssuerLabel() string       { return tlsid.Fingerprint(s.cert.Leaf) }

// ServeProxy is the child-process entry point: one real proxy (sidecar.Run)
// whose original destination is fixed and whose discovery table is static,
// so it runs on loopback without NAT rules or a control plane.
func ServeProxy(args []string) error {
	fs := flag.NewFlagSet("serve-proxy", flag.ContinueOnError)
	role := fs.String("role", "server", "client (outbound hop) or server (inbound hop)")
	dir := fs.String("dir", "", "directory holding ca.pem and ca.key")
	inbound := fs.String("inbound", "127.0.0.1:0", "inbound listen address")
	outbound := fs.String("outbound", "127.0.0.1:0", "outbound listen address")
	admin := fs.String("admin", "127.0.0.1:0", "admin listen address")
	dst := fs.String("orig-dst", "", "original destination every connection reports")
	endpoint := fs.String("endpoint", "", "client role: meshed endpoint the original destination resolves to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	anchor, err := readCA(*dir)
	if err != nil {
		return err
	}
	cert, err := anchor.leaf(identityOf(*role))
	if err != nil {
		return err
	}
	orig, err := netip.ParseAddrPort(*dst)
	if err != nil {
		return fmt.Errorf("--orig-dst: %w", err)
	}
	store := &discovery.Store{}
	if *role == "client" {
		ep, err := netip.ParseAddrPort(*endpoint)
		if err != nil {
			return fmt.Errorf("--endpoint: %w", err)
		}
		store.Set(contract.DiscoverySnapshot{Revision: 1, Services: map[string]contract.ServiceTarget{
			orig.String(): {Endpoints: []contract.Endpoint{{IP: ep.Addr().String(), Port: int32(ep.Port()), Identity: identityOf("server")}}},
		}})
	}
	lns := make([]net.Listener, 3)
	for i, a := range []string{*inbound, *outbound, *admin} {
		if lns[i], err = net.Listen("tcp", a); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if dir := os.Getenv(ProfileDirEnv); dir != "" {
		finish, err := profile(dir, *role)
		if err != nil {
			return err
		}
		defer finish()
	}
	if dir := os.Getenv(TraceDirEnv); dir != "" {
		finish, err := traceTo(dir, *role)
		if err != nil {
			return err
		}
		defer finish()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sidecar.TuneMemory(os.Getenv) // as cmd/proxy does, with the default cores
	sidecar.TuneCPU(contract.DefaultProxyCores, os.Getenv)
	return sidecar.Run(ctx, sidecar.Options{
		Config: config.Config{TrustDomain: trustDomain, TrustRootsPath: filepath.Join(*dir, "ca.pem"),
			PodNamespace: "bench", ServiceAccount: *role},
		Version: buildinfo.Version, Log: log,
		Inbound: lns[0], Outbound: lns[1], Admin: lns[2],
		OrigDst: origdst.Fixed(orig), Certs: staticCerts{cert}, Discovery: store,
	})
}

// ProfileDirEnv names a directory where each proxy child writes a CPU profile
// of its whole life and a heap profile at exit (<role>.cpu.pprof, <role>.heap.pprof).
const ProfileDirEnv = "BENCH_PROXY_PPROF_DIR"

func profile(dir, role string) (func(), error) {
	cpu, err := os.Create(filepath.Join(dir, role+".cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = cpu.Close()
		heap, err := os.Create(filepath.Join(dir, role+".heap.pprof"))
		if err != nil {
			return
		}
		defer heap.Close()
		runtime.GC()
		_ = pprof.Lookup("allocs").WriteTo(heap, 0)
	}, nil
}

// TraceDirEnv names a directory where each proxy child writes an execution
// trace of its whole life (<role>.trace): scheduler latency, GC pauses and
// mark assists, which a CPU profile does not show.
const TraceDirEnv = "BENCH_PROXY_TRACE_DIR"

func traceTo(dir, role string) (func(), error) {
	f, err := os.Create(filepath.Join(dir, role+".trace"))
	if err != nil {
		return nil, err
	}
	if err := trace.Start(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() { trace.Stop(); _ = f.Close() }, nil
}
