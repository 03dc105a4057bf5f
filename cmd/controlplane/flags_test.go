package main

import (
	"strings"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// chartInjectorArgs are the arguments the operator's chart passes.
var chartInjectorArgs = []string{
	"--control-plane-namespace=meshkeeper-system", "--tls-dir=/var/run/meshkeeper/tls",
	"--listen=:8443", "--admin-listen=:9990",
	"--proxy-image=ghcr.io/meshkeeper/proxy:0.1.0", "--proxy-init-image=ghcr.io/meshkeeper/proxy-init:0.1.0",
	"--proxy-version=0.1.0", "--trust-domain=cluster.local", "--default-mtls-mode=permissive",
	"--identity-addr=meshkeeper-identity.meshkeeper-system.svc:8080",
	"--discovery-addr=meshkeeper-discovery.meshkeeper-system.svc:8086",
	"--proxy-log-level=info", "--proxy-env=MESHKEEPER_FAULT_FAILURE_RATE=0.2", "--proxy-env=A=b=c",
	"--proxy-cpu-request=10m", "--proxy-memory-request=20Mi", "--proxy-memory-limit=128Mi",
}

func TestParseInjectorFlags(t *testing.T) {
	f, err := parseInjectorFlags(chartInjectorArgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.cfg.ProxyEnv) != 2 || f.cfg.ProxyEnv[0].Name != contract.EnvFaultFailureRate || f.cfg.ProxyEnv[1].Value != "b=c" {
		t.Fatalf("proxy env = %v", f.cfg.ProxyEnv)
	}
	if got := f.cfg.ProxyResources.Limits.Memory().String(); got != "128Mi" {
		t.Fatalf("memory limit = %s", got)
	}
	if f.cfg.Redirect != contract.RedirectInitContainer {
		t.Fatalf("redirect %q by default, want %s", f.cfg.Redirect, contract.RedirectInitContainer)
	}
	cni, err := parseInjectorFlags(append(append([]string{}, chartInjectorArgs...), "--redirect=CNI"))
	if err != nil || cni.cfg.Redirect != contract.RedirectCNI {
		t.Fatalf("--redirect=CNI: %v %q", err, cni.cfg.Redirect)
	}
	if f.cfg.NamespaceSelector != nil {
		t.Fatalf("no --namespace-selector, yet a selector: %v", f.cfg.NamespaceSelector)
	}
	sel, err := parseInjectorFlags(append(append([]string{}, chartInjectorArgs...), `--namespace-selector={"matchLabels":{"team":"shop"}}`))
	if err != nil || sel.cfg.NamespaceSelector == nil || sel.cfg.NamespaceSelector.String() != "team=shop" {
		t.Fatalf("--namespace-selector: %v %v", err, sel.cfg.NamespaceSelector)
	}
	for _, tc := range []struct {
		name    string
		extra   string
		wantErr string
	}{
		{"bad env", "--proxy-env=NOVALUE", "KEY=VALUE"},
		{"bad quantity", "--proxy-memory-limit=lots", "--proxy-memory-limit"},
		{"bad mode", "--default-mtls-mode=off", "--default-mtls-mode"},
		{"missing image", "--proxy-image=", "--proxy-image is required"},
		{"bad redirect", "--redirect=cni", "--redirect must be InitContainer or CNI"},
		{"selector not JSON", "--namespace-selector=team=shop", "not a JSON LabelSelector"},
		{"selector with a bad operator", `--namespace-selector={"matchExpressions":[{"key":"a","operator":"Near"}]}`, "namespace selector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseInjectorFlags(append(append([]string{}, chartInjectorArgs...), tc.extra))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseIdentityFlags(t *testing.T) {
	args := []string{"--namespace=meshkeeper-system", "--trust-domain=cluster.local",
		"--issuer-secret=meshkeeper-identity-issuer", "--trust-roots-configmap=meshkeeper-trust-roots",
		"--leaf-ttl=1m", "--identity-listen=:8080", "--discovery-listen=:8086", "--admin-listen=:9990"}
	f, err := parseIdentityFlags(args)
	if err != nil {
		t.Fatal(err)
	}
	if f.leafTTL != time.Minute || f.defaultMTLSMode != contract.MTLSPermissive {
		t.Fatalf("flags = %+v", f)
	}
	if _, err := parseIdentityFlags(args[1:]); err == nil {
		t.Fatal("--namespace must be required")
	}
	if _, err := parseIdentityFlags(append(args, "--leaf-ttl=5s")); err == nil {
		t.Fatal("a leaf TTL under a minute must be refused")
	}
	if _, err := parseIdentityFlags(append(args, "--leaf-ttl=169h")); err == nil {
		t.Fatal("a leaf TTL above the documented maximum (168h) must be refused")
	}
	if _, err := parseIdentityFlags(append(args, "--leaf-ttl=168h")); err != nil {
		t.Fatalf("the maximum itself is allowed: %v", err)
	}
}
