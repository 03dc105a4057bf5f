package discovery_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	discoverysvc "github.com/meshkeeper/meshkeeper/internal/controlplane/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/clock"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testpki"
)

// TestAgainstRealDiscoveryService follows the control plane's stream handler.
func TestAgainstRealDiscoveryService(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := discoverysvc.NewBroadcaster()
	ca := testpki.NewCA(t, "anchor")
	auth := discoverysvc.MeshCertAuthenticator{Roots: ca.Pool, TrustDomain: "cluster.local", Now: time.Now}
	h, err := discoverysvc.NewStreamHandler(b, discoverysvc.StreamConfig{Auth: auth, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	const podIP, id = "198.18.10.7", "spiffe://cluster.local/ns/app/sa/web"
	snap := func(rev uint64, ip string) contract.DiscoverySnapshot {
		return contract.DiscoverySnapshot{Revision: rev, Pods: map[string]contract.MeshedPod{ip: {Identity: id, Namespace: "app"}},
			Services: map[string]contract.ServiceTarget{}}
	}
	if _, err := b.Publish(snap(1, podIP)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h.Handler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Leaf(t, "", contract.DiscoveryServiceName+".meshkeeper.svc")},
		ClientAuth: discoverysvc.ServerClientAuth}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	store := &discovery.Store{}
	c := &discovery.Client{
		Addr: contract.DiscoveryServiceName + ".meshkeeper.svc:" + port, Roots: testpki.Static{Roots: ca.Pool()},
		Certs: testpki.Static{Cert: ca.Leaf(t, "spiffe://cluster.local/ns/app/sa/web")},
		Store: store, Clock: clock.Real{}, Log: quiet,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	waitFor(t, func() bool { return store.Revision() == 1 })
	if got := store.Resolve(netip.MustParseAddrPort(podIP + ":8080")); got.Identity != id {
		t.Fatalf("pod not meshed after first snapshot: %+v", got)
	}
	if _, err := b.Publish(snap(2, "198.18.10.8")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return store.Revision() == 2 })
	if got := store.Resolve(netip.MustParseAddrPort(podIP + ":8080")); got.Meshed() {
		t.Fatalf("pod still meshed after it left: %+v", got)
	}
}
