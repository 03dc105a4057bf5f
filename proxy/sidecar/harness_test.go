package sidecar_test

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/testsupport"
	"github.com/meshkeeper/meshkeeper/proxy/clock"
	"github.com/meshkeeper/meshkeeper/proxy/config"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/sidecar"
	"github.com/meshkeeper/meshkeeper/proxy/tlsid"
)

const td = "cluster.local"

var (
	clientID = contract.SPIFFEID(td, "app", "client")
	serverID = contract.SPIFFEID(td, "app", "server")
)

// certs is a swappable certificate source, as the identity client is.
type certs struct {
	cur atomic.Pointer[tls.Certificate]
}

func newCerts(c *tls.Certificate) *certs { s := &certs{}; s.cur.Store(c); return s }

func (c *certs) Current() *tls.Certificate { return c.cur.Load() }
func (c *certs) IssuerLabel() string {
	if cur := c.cur.Load(); cur != nil && len(cur.Certificate) > 1 {
		issuer, _ := x509.ParseCertificate(cur.Certificate[1])
		return tlsid.Fingerprint(issuer)
	}
	return ""
}

// dstResolver is the injected SO_ORIGINAL_DST: the test sets where the
// "redirected" connections were going.
type dstResolver struct {
	cur atomic.Pointer[netip.AddrPort]
}

func (d *dstResolver) set(ap netip.AddrPort) { d.cur.Store(&ap) }
func (d *dstResolver) OriginalDst(net.Conn) (netip.AddrPort, error) {
	return *d.cur.Load(), nil
}

type proxy struct {
	inbound, outbound, admin string
	store                    *discovery.Store
	dst                      *dstResolver
	trustPath                string
	// stop ends the proxy (as its container stopping would); cleanup calls it too.
	stop func()
}

type proxyOpts struct {
	certs  sidecar.Certs
	anchor []byte // PEM written to the proxy's trust file
	strict bool
	fault  float64
	clock  clock.Clock
	limits contract.ProxyLimits
	opaque contract.PortRanges // the pod's own opaque ports
	log    io.Writer           // debug log; discarded when nil
	// detect is the protocol detection timeout; 200 ms when zero, to keep
	// the tests of server-first protocols short.
	detect time.Duration
}

func (o proxyOpts) logger() *slog.Logger {
	if o.log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(o.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func startProxy(t testing.TB, o proxyOpts) *proxy {
	t.Helper()
	p := &proxy{store: &discovery.Store{}, dst: &dstResolver{}, trustPath: filepath.Join(t.TempDir(), contract.TrustRootsKey)}
	p.dst.set(netip.MustParseAddrPort("127.0.0.1:1"))
	writeFile(t, p.trustPath, o.anchor)
	lns := make([]net.Listener, 3)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
	}
	p.inbound, p.outbound, p.admin = lns[0].Addr().String(), lns[1].Addr().String(), lns[2].Addr().String()
	if o.clock == nil {
		o.clock = clock.Real{}
	}
	cfg := config.Config{TrustDomain: td, TrustRootsPath: p.trustPath, PodNamespace: "app", ServiceAccount: "x",
		Strict: o.strict, FaultFailureRate: o.fault, Limits: o.limits, OpaquePorts: o.opaque}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sidecar.Run(ctx, sidecar.Options{
			Config: cfg, Version: "9.9.9-test", Log: o.logger(), Clock: o.clock,
			Inbound: lns[0], Outbound: lns[1], Admin: lns[2], OrigDst: p.dst, Certs: o.certs, Discovery: p.store,
			DetectTimeout: cmp.Or(o.detect, 200*time.Millisecond),
		})
	}()
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("proxy stopped with %v", err)
			}
		})
	}
	t.Cleanup(p.stop)
	waitFor(t, func() bool { code, _ := get(t, "http://"+p.admin+contract.ReadyPath); return code == http.StatusOK })
	return p
}

// route makes this (client-side) proxy send service to the given endpoint.
func (p *proxy) route(service string, endpoint string, identity string) {
	ap := netip.MustParseAddrPort(endpoint)
	p.store.Set(contract.DiscoverySnapshot{Services: map[string]contract.ServiceTarget{
		service: {Namespace: "app", Name: "server", Endpoints: []contract.Endpoint{{IP: ap.Addr().String(), Port: int32(ap.Port()), Identity: identity}}},
	}})
	p.dst.set(netip.MustParseAddrPort(service))
}

// metric returns the value of the one series whose line starts with prefix
// (name plus its sorted label set), or -1 when absent.
func (p *proxy) metric(t testing.TB, series string) string {
	t.Helper()
	_, body := get(t, "http://"+p.admin+contract.MetricsPath)
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return "absent"
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	testsupport.Until(t, "condition", 10*time.Second, cond)
}

// requestDump is what the application saw of a request.
type requestDump struct {
	Method, URI, Proto, Host string
	Header                   map[string][]string
	Body                     string
}

// app is the meshed application: HTTP/1.1 and prior-knowledge HTTP/2 on one
// port, and a raw TCP echo on another.
type app struct{ httpAddr, tcpAddr netip.AddrPort }

func startApp(t testing.TB) *app {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := w.Header()
		h.Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		h.Set("X-App", "yes")
		h.Add("Set-Cookie", "a=1")
		h.Add("Set-Cookie", "b=2")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(requestDump{r.Method, r.RequestURI, r.Proto, r.Host, r.Header, string(body)})
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		// gRPC-like: streamed frames, then trailers.
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.Header().Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		body, _ := io.ReadAll(r.Body)
		for i := 0; i < 3; i++ {
			_, _ = w.Write(append([]byte{byte(i)}, body...))
			w.(http.Flusher).Flush()
		}
		w.Header().Set("Grpc-Status", "0")
	})
	mux.HandleFunc("/duplex", func(w http.ResponseWriter, r *http.Request) {
		// Echo each line as it arrives, before the request body has ended.
		_ = http.NewResponseController(w).EnableFullDuplex()
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			_, _ = w.Write([]byte("echo " + sc.Text() + "\n"))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		// A minimal upgrade: after 101 the connection is an opaque echo.
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		_, _ = io.Copy(conn, rw)
	})
	mux.HandleFunc("/status/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		code := map[string]int{"/status/500": 500, "/status/404": 404}[r.URL.Path]
		w.WriteHeader(code)
	})
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: protocols}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(hl) }()
	t.Cleanup(func() { _ = srv.Close() })

	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tl.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return &app{httpAddr: netip.MustParseAddrPort(hl.Addr().String()), tcpAddr: netip.MustParseAddrPort(tl.Addr().String())}
}

// clientVia returns an HTTP client whose every connection goes to addr (the
// outbound proxy, as the redirect rule would do), speaking h2c if h2.
func clientVia(addr string, h2 bool) *http.Client {
	protocols := new(http.Protocols)
	if h2 {
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP1(true)
	}
	return &http.Client{Transport: &http.Transport{
		Protocols: protocols,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

func sortedHeader(h http.Header) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + ": " + strings.Join(h[k], " | ") + "\n")
	}
	return b.String()
}
