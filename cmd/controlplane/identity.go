package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/controlplane/discovery"
	"github.com/meshkeeper/meshkeeper/internal/controlplane/identity"
)

type identityFlags struct {
	namespace, trustDomain, issuerSecret, trustRootsConfigMap string
	leafTTL                                                   time.Duration
	identityListen, discoveryListen, adminListen              string
	defaultMTLSMode, kubeconfig                               string
}

func parseIdentityFlags(args []string) (identityFlags, error) {
	var f identityFlags
	fs := flag.NewFlagSet("identity", flag.ContinueOnError)
	fs.StringVar(&f.namespace, "namespace", "", "control-plane namespace (holds the issuer Secret)")
	fs.StringVar(&f.trustDomain, "trust-domain", "cluster.local", "SPIFFE trust domain")
	fs.StringVar(&f.issuerSecret, "issuer-secret", contract.IssuerSecret, "Secret with the issuer's tls.crt and tls.key")
	fs.StringVar(&f.trustRootsConfigMap, "trust-roots-configmap", contract.TrustRootsConfigMap,
		"ConfigMap with the published trust-anchor bundle; a new issuer is adopted only once it chains to it (empty: no check)")
	fs.DurationVar(&f.leafTTL, "leaf-ttl", 24*time.Hour, "lifetime of workload certificates")
	fs.StringVar(&f.identityListen, "identity-listen", fmt.Sprintf(":%d", contract.IdentityPort), "identity HTTPS address")
	fs.StringVar(&f.discoveryListen, "discovery-listen", fmt.Sprintf(":%d", contract.DiscoveryPort), "discovery HTTPS address")
	fs.StringVar(&f.adminListen, "admin-listen", ":9990", "admin HTTP address (/ready, /live, /metrics)")
	fs.StringVar(&f.defaultMTLSMode, "default-mtls-mode", contract.MTLSPermissive, "mTLS mode of pods and namespaces without an annotation")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig path; in-cluster config when empty")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	switch {
	case f.namespace == "":
		return f, errors.New("--namespace is required")
	case f.leafTTL < time.Minute:
		return f, errors.New("--leaf-ttl must be at least 1m")
	case f.leafTTL > identity.MaxLeafTTL:
		return f, fmt.Errorf("--leaf-ttl must be at most %s", identity.MaxLeafTTL)
	case f.defaultMTLSMode != contract.MTLSPermissive && f.defaultMTLSMode != contract.MTLSStrict:
		return f, fmt.Errorf("--default-mtls-mode must be %s or %s", contract.MTLSPermissive, contract.MTLSStrict)
	}
	return f, nil
}

// runIdentity runs the identity and discovery servers in one process: both
// present the certificate the identity service issues itself.
func runIdentity(ctx context.Context, log *slog.Logger, args []string) error {
	f, err := parseIdentityFlags(args)
	if err != nil {
		return err
	}
	client, err := kubeClient(f.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	reg := newRegistry()

	issuers := identity.NewIssuerWatcher(client, identity.WatchConfig{
		Namespace: f.namespace, IssuerSecret: f.issuerSecret, TrustRootsConfigMap: f.trustRootsConfigMap, Logger: log,
	})
	idServer, err := identity.NewServer(identity.Config{
		TrustDomain: f.trustDomain, LeafTTL: f.leafTTL,
		Reviewer: identity.KubeTokenReviewer{Client: client}, Issuer: issuers,
		ServingDNSNames: identity.ServingDNSNames(f.namespace), Logger: log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	snapshots := discovery.NewBroadcaster()
	watcher := discovery.NewWatcher(client, snapshots, discovery.WatcherConfig{
		TrustDomain: f.trustDomain, DefaultMTLSMode: f.defaultMTLSMode, Logger: log,
	})
	// Only mesh proxies may watch: they present the workload certificate this
	// very service issued, verified against the published anchors.
	auth := discovery.MeshCertAuthenticator{Roots: issuers.Roots, TrustDomain: f.trustDomain, Now: time.Now}
	stream, err := discovery.NewStreamHandler(snapshots, discovery.StreamConfig{Auth: auth, Logger: log, Registerer: reg})
	if err != nil {
		return err
	}
	ready := func() error {
		if !issuers.Synced() {
			return errors.New("issuer secret and trust bundle not synced")
		}
		if err := idServer.Ready(); err != nil {
			return err
		}
		if !watcher.Synced() {
			return errors.New("discovery not synced")
		}
		return nil
	}

	log.Info("starting identity and discovery", "namespace", f.namespace, "trustDomain", f.trustDomain,
		"leafTTL", f.leafTTL, "issuerSecret", f.issuerSecret, "trustRootsConfigMap", f.trustRootsConfigMap)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { issuers.Run(ctx); return nil })
	g.Go(func() error { return watcher.Run(ctx) })
	g.Go(func() error { advertiseIssuer(ctx, issuers, snapshots, log); return nil })
	getCert := idServer.ServingCert().GetCertificate
	g.Go(func() error { return serve(ctx, f.identityListen, tlsServer(idServer.Handler(), getCert)) })
	discoverySrv := tlsServer(stream.Handler(), getCert)
	discoverySrv.TLSConfig.ClientAuth = discovery.ServerClientAuth
	g.Go(func() error { return serve(ctx, f.discoveryListen, discoverySrv) })
	g.Go(func() error { return serve(ctx, f.adminListen, adminServer(reg, ready)) })
	return g.Wait()
}
