package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/informers"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/contract/meshns"
	"github.com/meshkeeper/meshkeeper/internal/controlplane/inject"
)

type injectorFlags struct {
	cfg                              inject.Config
	tlsDir, listen, adminListen      string
	cpuRequest, memRequest, memLimit string
	kubeconfig                       string
}

func parseInjectorFlags(args []string) (injectorFlags, error) {
	var f injectorFlags
	c := &f.cfg
	fs := flag.NewFlagSet("injector", flag.ContinueOnError)
	fs.StringVar(&c.ControlPlaneNamespace, "control-plane-namespace", "", "control-plane namespace (never injected)")
	fs.StringVar(&f.tlsDir, "tls-dir", "/var/run/meshkeeper/tls", "directory with the serving tls.crt and tls.key (reloaded on change)")
	fs.StringVar(&f.listen, "listen", fmt.Sprintf(":%d", contract.InjectorPort), "webhook HTTPS address")
	fs.StringVar(&f.adminListen, "admin-listen", ":9990", "admin HTTP address (/ready, /live, /metrics)")
	fs.StringVar(&c.ProxyImage, "proxy-image", "", "proxy sidecar image")
	fs.StringVar(&c.ProxyInitImage, "proxy-init-image", "", "proxy-init image")
	fs.StringVar(&c.ProxyVersion, "proxy-version", "", "proxy version stamped on injected pods")
	fs.StringVar(&c.TrustDomain, "trust-domain", "cluster.local", "SPIFFE trust domain")
	fs.StringVar(&c.DefaultMTLSMode, "default-mtls-mode", contract.MTLSPermissive, "mTLS mode when neither pod nor namespace sets one")
	fs.StringVar(&c.IdentityAddr, "identity-addr", "", "host:port of the identity service")
	fs.StringVar(&c.DiscoveryAddr, "discovery-addr", "", "host:port of the discovery service")
	fs.StringVar(&c.ProxyLogLevel, "proxy-log-level", "info", "proxy log level")
	fs.StringVar(&c.Redirect, "redirect", contract.RedirectInitContainer,
		"how pods' redirect rules are installed: InitContainer (proxy-init) or CNI (the node's meshkeeper-cni plugin)")
	fs.Func("proxy-env", "extra proxy environment KEY=VALUE (repeatable)", func(v string) error {
		key, value, ok := strings.Cut(v, "=")
		if !ok || key == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		c.ProxyEnv = append(c.ProxyEnv, corev1.EnvVar{Name: key, Value: value})
		return nil
	})
	fs.StringVar(&f.cpuRequest, "proxy-cpu-request", "10m", "proxy CPU request")
	fs.StringVar(&f.memRequest, "proxy-memory-request", "20Mi", "proxy memory request")
	fs.StringVar(&f.memLimit, "proxy-memory-limit", "128Mi", "proxy memory limit")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig path; in-cluster config when empty")
	fs.Func("namespace-selector", "JSON LabelSelector of namespaces meshed like those labelled meshkeeper.io/inject=enabled", func(v string) error {
		sel, err := meshns.Parse(v)
		c.NamespaceSelector = sel
		return err
	})
	err := fs.Parse(args)
	if err != nil {
		return f, err
	}
	for _, required := range []struct{ flag, value string }{
		{"--control-plane-namespace", c.ControlPlaneNamespace}, {"--proxy-image", c.ProxyImage},
		{"--proxy-init-image", c.ProxyInitImage}, {"--proxy-version", c.ProxyVersion},
		{"--identity-addr", c.IdentityAddr}, {"--discovery-addr", c.DiscoveryAddr},
	} {
		if required.value == "" {
			return f, fmt.Errorf("%s is required", required.flag)
		}
	}
	if c.DefaultMTLSMode != contract.MTLSPermissive && c.DefaultMTLSMode != contract.MTLSStrict {
		return f, fmt.Errorf("--default-mtls-mode must be %s or %s", contract.MTLSPermissive, contract.MTLSStrict)
	}
	if c.Redirect != contract.RedirectInitContainer && c.Redirect != contract.RedirectCNI {
		return f, fmt.Errorf("--redirect must be %s or %s", contract.RedirectInitContainer, contract.RedirectCNI)
	}
	var quantities [3]resource.Quantity
	for i, q := range []struct{ flag, value string }{
		{"--proxy-cpu-request", f.cpuRequest}, {"--proxy-memory-request", f.memRequest}, {"--proxy-memory-limit", f.memLimit},
	} {
		if quantities[i], err = resource.ParseQuantity(q.value); err != nil {
			return f, fmt.Errorf("%s: %w", q.flag, err)
		}
	}
	c.ProxyResources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: quantities[0], corev1.ResourceMemory: quantities[1]},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: quantities[2]},
	}
	return f, nil
}

// runInjector serves the webhook with a certificate reloaded from --tls-dir,
// reading namespaces from an informer cache.
func runInjector(ctx context.Context, log *slog.Logger, args []string) error {
	f, err := parseInjectorFlags(args)
	if err != nil {
		return err
	}
	client, err := kubeClient(f.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	certs, err := certwatcher.New(filepath.Join(f.tlsDir, corev1.TLSCertKey), filepath.Join(f.tlsDir, corev1.TLSPrivateKeyKey))
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	reg := newRegistry()
	factory := informers.NewSharedInformerFactory(client, 0)
	namespaces := factory.Core().V1().Namespaces()
	nsInformer := namespaces.Informer()
	webhook, err := inject.NewWebhook(f.cfg, namespaces.Lister(), log, reg)
	if err != nil {
		return err
	}
	ready := func() error {
		if !nsInformer.HasSynced() {
			return errors.New("namespace cache not synced")
		}
		return nil
	}

	log.Info("starting injector", "controlPlaneNamespace", f.cfg.ControlPlaneNamespace,
		"proxyImage", f.cfg.ProxyImage, "proxyVersion", f.cfg.ProxyVersion, "defaultMTLSMode", f.cfg.DefaultMTLSMode)
	g, ctx := errgroup.WithContext(ctx)
	factory.Start(ctx.Done())
	g.Go(func() error { <-ctx.Done(); factory.Shutdown(); return nil })
	g.Go(func() error { return certs.Start(ctx) })
	g.Go(func() error { return serve(ctx, f.listen, tlsServer(webhook.Handler(), certs.GetCertificate)) })
	g.Go(func() error { return serve(ctx, f.adminListen, adminServer(reg, ready)) })
	return g.Wait()
}
