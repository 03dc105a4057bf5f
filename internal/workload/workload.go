// Package workload maps meshed pods to the workloads that own them and
// restarts workloads the way `kubectl rollout restart` does, so their pods
// come back with fresh proxies and certificates.
package workload

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// Kinds a meshed pod can be restarted through.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
)

// Key names a workload as "Kind/namespace/name".
func Key(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

// ParseKey splits a Key.
func ParseKey(key string) (kind, namespace, name string, err error) {
	parts := strings.Split(key, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", fmt.Errorf("workload key %q is not Kind/namespace/name", key)
	}
	return parts[0], parts[1], parts[2], nil
}

// OwnerKey returns the workload that owns pod, or "" for a bare pod or an
// owner that cannot be restarted. ReplicaSets are followed to their
// Deployment through rsOwner (the ReplicaSet's own controller reference).
func OwnerKey(pod *corev1.Pod, rsOwner func(namespace, name string) *metav1.OwnerReference) string {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return ""
	}
	switch ref.Kind {
	case KindStatefulSet, KindDaemonSet:
		return Key(ref.Kind, pod.Namespace, ref.Name)
	case "ReplicaSet":
		if dep := rsOwner(pod.Namespace, ref.Name); dep != nil && dep.Kind == KindDeployment {
			return Key(KindDeployment, pod.Namespace, dep.Name)
		}
	}
	return ""
}

// ReplicaSetOwners resolves ReplicaSet owners with a reader (the API or a cache).
func ReplicaSetOwners(ctx context.Context, r client.Reader) func(namespace, name string) *metav1.OwnerReference {
	return func(namespace, name string) *metav1.OwnerReference {
		var rs appsv1.ReplicaSet
		if err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &rs); err != nil {
			return nil
		}
		return metav1.GetControllerOf(&rs)
	}
}

// Restart stamps the workload's pod template with the restart annotation,
// which rolls its pods under the workload's own update strategy.
func Restart(ctx context.Context, c client.Client, key string, at time.Time) error {
	kind, ns, name, err := ParseKey(key)
	if err != nil {
		return err
	}
	var obj client.Object
	switch kind {
	case KindDeployment:
		obj = &appsv1.Deployment{}
	case KindStatefulSet:
		obj = &appsv1.StatefulSet{}
	case KindDaemonSet:
		obj = &appsv1.DaemonSet{}
	default:
		return fmt.Errorf("cannot restart a %s", kind)
	}
	stamp := at.UTC().Format(time.RFC3339)
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, contract.RestartedAtAnnotation, stamp)
	obj.SetNamespace(ns)
	obj.SetName(name)
	return c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch)))
}
