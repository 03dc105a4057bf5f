package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/cachetrim"
)

// CacheOptions keeps the manager's informers to the objects the operator owns
// (Deployments and ConfigMaps carrying the installation label). Pods are all
// watched: a pod the injector failed open for carries no mark of the mesh, so
// no label selector finds it, and the operator must see it to restart its
// workload. Managed fields are dropped from every object, and pods and
// ReplicaSets are trimmed to the fields the operator reads (cachetrim): at
// 5,000 pods the cache is most of the operator's memory.
func CacheOptions() cache.Options {
	owned := hasLabel(contract.InstallationLabel)
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}: {Label: owned},
			&corev1.ConfigMap{}:  {Label: owned},
		},
		DefaultTransform: cachetrim.Transform,
	}
}

func hasLabel(key string) labels.Selector {
	req, _ := labels.NewRequirement(key, selection.Exists, nil)
	return labels.NewSelector().Add(*req)
}

// ClientOptions never caches Secrets: the operator may read them only in the
// namespaces it owns, so it must not start a cluster-wide Secret informer.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// The manager's client-side rate limit. controller-runtime's default, 20
// requests/s with bursts of 30, is sized for a small controller: on
// bench-operator at 5,000 pods it throttled a no-op pass (a few uncached
// reads) to 449 ms p99, and publishing the trust bundle to 200 namespaces
// took 10 s of tokens alone. The API server protects itself with API Priority
// and Fairness; this limit only bounds a runaway loop of this one client.
const (
	ClientQPS   = 200
	ClientBurst = 400
)

// WithClientRate returns a copy of cfg with the operator's rate limit.
func WithClientRate(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = ClientQPS, ClientBurst
	return c
}
