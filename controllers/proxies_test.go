package controllers

import (
	"context"
	"crypto/x509"
	"fmt"
	"math"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// simulatedProxies plays the meshed proxies envtest cannot run. Each pod's
// proxy trusts the bundle published in its namespace and holds a certificate
// from the issuer currently stored — unless a test freezes it, which makes it
// keep reporting what it last reported, like a proxy that does not converge.
//
// Every scrape also serves simulatedRequests more inbound requests per pod,
// a failureRate share of them failed for the pod's proxy version, and a
// latency of a millisecond, so upgrade gates see live traffic.
type simulatedProxies struct {
	mu          sync.Mutex
	frozen      map[types.NamespacedName]bool
	last        map[types.NamespacedName]proxymetrics.Report
	traffic     map[types.NamespacedName]proxymetrics.Traffic
	failureRate map[string]float64 // by "namespace/proxy version"
	unreachable map[types.NamespacedName]bool
}

const simulatedRequests = 200

func newSimulatedProxies() *simulatedProxies {
	return &simulatedProxies{frozen: map[types.NamespacedName]bool{}, last: map[types.NamespacedName]proxymetrics.Report{},
		traffic: map[types.NamespacedName]proxymetrics.Traffic{}, failureRate: map[string]float64{},
		unreachable: map[types.NamespacedName]bool{}}
}

// failVersion makes the proxies of one version in one namespace fail a share
// of their requests, like a faulty release would.
func (s *simulatedProxies) failVersion(namespace, version string, rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failureRate[namespace+"/"+version] = rate
}

func (s *simulatedProxies) serve(key types.NamespacedName, version string) proxymetrics.Traffic {
	t := s.traffic[key]
	failed := simulatedRequests * s.failureRate[key.Namespace+"/"+version]
	t = t.Add(proxymetrics.Traffic{Requests: simulatedRequests, Failures: failed,
		Buckets: []proxymetrics.Bucket{{UpperBound: 0.001, Count: 0}, {UpperBound: 0.0025, Count: simulatedRequests}, {UpperBound: math.Inf(1), Count: simulatedRequests}}})
	s.traffic[key] = t
	return t
}

func (s *simulatedProxies) freeze(pod types.NamespacedName, frozen bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frozen[pod] = frozen
}

// block makes a pod's admin port unreachable, as a NetworkPolicy would.
func (s *simulatedProxies) block(pod types.NamespacedName, blocked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unreachable[pod] = blocked
}

// runsProxy: the simulation answers only for pods that run the proxy
// container, like a real admin port (independent of the operator's helper).
func runsProxy(p corev1.Pod) bool {
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		if c.Name == contract.ProxyContainerName {
			return true
		}
	}
	return false
}

func (s *simulatedProxies) Scrape(ctx context.Context, pods []corev1.Pod) []proxymetrics.PodReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]proxymetrics.PodReport, 0, len(pods))
	for _, p := range pods {
		key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
		if !runsProxy(p) || s.unreachable[key] {
			// Nothing listens on the admin port of a pod without the proxy,
			// or a NetworkPolicy drops the operator's connection.
			out = append(out, proxymetrics.PodReport{Pod: key, Err: fmt.Errorf("dial tcp %s:%d: connect: connection refused", p.Status.PodIP, contract.ProxyAdminPort)})
			continue
		}
		rep, seen := s.last[key]
		if !seen || !s.frozen[key] {
			rep = s.observe(ctx, p.Namespace, p.Labels[contract.ProxyVersionLabel])
			s.last[key] = rep
		}
		rep.Inbound = s.serve(key, p.Labels[contract.ProxyVersionLabel])
		out = append(out, proxymetrics.PodReport{Pod: key, Report: rep})
	}
	return out
}

// observe reads what a converged proxy in namespace would report.
func (s *simulatedProxies) observe(ctx context.Context, namespace, version string) proxymetrics.Report {
	rep := proxymetrics.Report{Version: version}
	var cm corev1.ConfigMap
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: contract.TrustRootsConfigMap}, &cm); err == nil {
		if certs, err := pki.ParseCertificates([]byte(cm.Data[contract.TrustRootsKey])); err == nil {
			for _, c := range certs {
				rep.TrustAnchors = append(rep.TrustAnchors, pki.Fingerprint(c))
			}
			sort.Strings(rep.TrustAnchors)
		}
	}
	// Several installations share this API server: a proxy renews from the
	// identity service that last switched issuers, i.e. the newest issuer.
	var issuers corev1.SecretList
	if err := k8s.List(ctx, &issuers, client.MatchingFields{"metadata.name": contract.IssuerSecret}); err == nil {
		var newest *x509.Certificate
		for _, sec := range issuers.Items {
			if kp, err := pki.ParseKeyPair(sec.Data["tls.crt"], sec.Data["tls.key"]); err == nil && (newest == nil || kp.Cert.NotBefore.After(newest.NotBefore)) {
				newest = kp.Cert
			}
		}
		if newest != nil {
			rep.Issuer = pki.Fingerprint(newest)
		}
	}
	return rep
}

// issuers returns the issuer each pod's proxy last reported ("" when never scraped).
func (s *simulatedProxies) issuers(pods []types.NamespacedName) map[types.NamespacedName]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[types.NamespacedName]string{}
	for _, p := range pods {
		out[p] = s.last[p].Issuer
	}
	return out
}
