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
// (Deployments and ConfigMaps carrying the installation label) and to meshed
// pods (those the injector stamped with a proxy version).
func CacheOptions() cache.Options {
	owned := hasLabel(contract.InstallationLabel)
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&appsv1.Deployment{}: {Label: owned},
		&corev1.ConfigMap{}:  {Label: owned},
		&corev1.Pod{}:        {Label: hasLabel(contract.ProxyVersionLabel)},
	}}
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
