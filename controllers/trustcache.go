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
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
)

// helmReleaseSecretType marks the Secrets Helm keeps its releases in: large,
// and never a trust object, so the trust informer leaves them out.
const helmReleaseSecretType = "helm.sh/release.v1"

// trustCache starts, with the manager, an informer on the Secrets of
// namespace alone (the operator may not watch Secrets cluster-wide) and
// returns the trust reads it serves; nil when namespace is "".
func trustCache(mgr ctrl.Manager, clk clock.PassiveClock, namespace string) (*trust.Cached, cache.Cache, error) {
	if namespace == "" {
		return nil, nil, nil
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
		return nil, nil, fmt.Errorf("trust Secret cache: %w", err)
	}
	// Registered now, so the informer starts and syncs with the manager
	// instead of on the first pass's read.
	if _, err := secrets.GetInformer(context.Background(), &corev1.Secret{}); err != nil {
		return nil, nil, fmt.Errorf("trust Secret informer: %w", err)
	}
	if err := mgr.Add(secrets); err != nil {
		return nil, nil, err
	}
	return &trust.Cached{Secrets: secrets, ConfigMaps: mgr.GetCache(), Namespace: namespace, Clock: clk}, secrets, nil
}

// trustSecretEvents starts a pass of every installation a changed trust
// Secret belongs to: a Secret deleted or edited by hand is repaired at once,
// and a pass that read the informer before it saw the change is followed by
// one that sees it.
func (r *MeshInstallationReconciler) trustSecretEvents() source.Source {
	return source.Kind(r.trustSecrets, &corev1.Secret{}, handler.TypedEnqueueRequestsFromMapFunc(
		func(ctx context.Context, s *corev1.Secret) []reconcile.Request {
			var list meshv1.MeshInstallationList
			if err := r.List(ctx, &list); err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "list installations for a trust Secret")
				return nil
			}
			var reqs []reconcile.Request
			for i := range list.Items {
				if trust.IsTrustSecret(&list.Items[i], s.Namespace, s.Name) {
					reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
				}
			}
			return reqs
		}))
}
