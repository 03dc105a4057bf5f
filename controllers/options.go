package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// CacheOptions keeps the manager's informers to the objects the operator owns
// (Deployments and ConfigMaps carrying the installation label). Pods are all
// watched: a pod the injector failed open for carries no mark of the mesh, so
// no label selector finds it, and the operator must see it to restart its
// workload. Managed fields, the bulk of a pod nobody here reads, are dropped.
func CacheOptions() cache.Options {
	owned := hasLabel(contract.InstallationLabel)
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}: {Label: owned},
			&corev1.ConfigMap{}:  {Label: owned},
		},
		DefaultTransform: cache.TransformStripManagedFields(),
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
