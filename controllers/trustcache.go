package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
)

// helmReleaseSecretType marks the Secrets Helm keeps its releases in: large,
// and never a trust object, so the trust informer leaves them out.
const helmReleaseSecretType = "helm.sh/release.v1"

// trustCache starts, with the manager, an informer on the Secrets of
// namespace alone (the operator may not watch Secrets cluster-wide) and
// returns the trust reads it serves; nil when namespace is "".
func trustCache(mgr ctrl.Manager, clk clock.PassiveClock, namespace string) (*trust.Cached, error) {
	if namespace == "" {
		return nil, nil
	}
	opts := cache.Options{
		Scheme: mgr.GetScheme(),
		Mapper: mgr.GetRESTMapper(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Field: fields.OneTermNotEqualSelector("type", helmReleaseSecretType)},
		},
		DefaultTransform: cache.TransformStripManagedFields(),
	}
	if namespace != trust.AllNamespaces {
		opts.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	secrets, err := cache.New(mgr.GetConfig(), opts)
	if err != nil {
		return nil, fmt.Errorf("trust Secret cache: %w", err)
	}
	// Registered now, so the informer starts and syncs with the manager
	// instead of on the first pass's read.
	if _, err := secrets.GetInformer(context.Background(), &corev1.Secret{}); err != nil {
		return nil, fmt.Errorf("trust Secret informer: %w", err)
	}
	if err := mgr.Add(secrets); err != nil {
		return nil, err
	}
	return &trust.Cached{Secrets: secrets, ConfigMaps: mgr.GetCache(), Namespace: namespace, Clock: clk}, nil
}
