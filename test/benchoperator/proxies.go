package main

import (
	"context"
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

// standInProxies plays the meshed proxies behind proxymetrics.Reader: each
// reports its version, the anchors of the bundle published in its namespace,
// the issuer stored in the control-plane namespace (what a converged proxy
// reports) and golden inbound metrics that grow with every scrape: 100
// requests, none failed, all within 2.5 ms. It reads the API with its own,
// uncounted client, once per namespace per scrape.
type standInProxies struct {
	Client       client.Client
	ControlPlane string

	mu      sync.Mutex
	traffic map[types.NamespacedName]proxymetrics.Traffic
}

const scrapeRequests = 100

func (s *standInProxies) Scrape(ctx context.Context, pods []corev1.Pod) []proxymetrics.PodReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.traffic == nil {
		s.traffic = map[types.NamespacedName]proxymetrics.Traffic{}
	}
	issuer := s.issuer(ctx)
	anchors := map[string][]string{}
	out := make([]proxymetrics.PodReport, 0, len(pods))
	for _, p := range pods {
		a, seen := anchors[p.Namespace]
		if !seen {
			a = s.bundle(ctx, p.Namespace)
			anchors[p.Namespace] = a
		}
		key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
		t := s.traffic[key].Add(proxymetrics.Traffic{Requests: scrapeRequests,
			Buckets: []proxymetrics.Bucket{{UpperBound: 0.001, Count: 0}, {UpperBound: 0.0025, Count: scrapeRequests}, {UpperBound: math.Inf(1), Count: scrapeRequests}}})
		s.traffic[key] = t
		out = append(out, proxymetrics.PodReport{Pod: key, Report: proxymetrics.Report{
			Version: p.Labels[contract.ProxyVersionLabel], TrustAnchors: a, Issuer: issuer, Inbound: t}})
	}
	return out
}

func (s *standInProxies) bundle(ctx context.Context, namespace string) []string {
	var cm corev1.ConfigMap
	if err := s.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: contract.TrustRootsConfigMap}, &cm); err != nil {
		return nil
	}
	certs, err := pki.ParseCertificates([]byte(cm.Data[contract.TrustRootsKey]))
	if err != nil {
		return nil
	}
	var fps []string
	for _, c := range certs {
		fps = append(fps, pki.Fingerprint(c))
	}
	sort.Strings(fps)
	return fps
}

func (s *standInProxies) issuer(ctx context.Context) string {
	var sec corev1.Secret
	if err := s.Client.Get(ctx, client.ObjectKey{Namespace: s.ControlPlane, Name: contract.IssuerSecret}, &sec); err != nil {
		return ""
	}
	kp, err := pki.ParseKeyPair(sec.Data["tls.crt"], sec.Data["tls.key"])
	if err != nil {
		return ""
	}
	return pki.Fingerprint(kp.Cert)
}
