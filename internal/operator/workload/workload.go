// Package workload maps meshed pods to the workloads that own them and
// restarts workloads the way `kubectl rollout restart` does, so their pods
// come back with fresh proxies and certificates.
package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// RestartStamp is the value Restart writes for a time (RFC 3339, UTC, seconds).
func RestartStamp(at time.Time) string { return at.UTC().Format(time.RFC3339) }

// Restart rolls a Deployment, StatefulSet or DaemonSet (key "Kind/ns/name") by
// stamping its pod template with contract.RestartedAtAnnotation = at (merge
// patch). It is a no-op when the template already carries that stamp, so a
// restart repeated after a crash does not roll the pods twice. When c cannot
// see the object (a cache limited to labelled objects), the patch is sent
// anyway: a merge patch of an unchanged value changes nothing on the server.
func Restart(ctx context.Context, c client.Client, workloadKey string, at time.Time) error {
	kind, ns, name, err := ParseKey(workloadKey)
	if err != nil {
		return err
	}
	var obj client.Object
	var annotations func() map[string]string
	switch kind {
	case KindDeployment:
		d := &appsv1.Deployment{}
		obj, annotations = d, func() map[string]string { return d.Spec.Template.Annotations }
	case KindStatefulSet:
		s := &appsv1.StatefulSet{}
		obj, annotations = s, func() map[string]string { return s.Spec.Template.Annotations }
	case KindDaemonSet:
		d := &appsv1.DaemonSet{}
		obj, annotations = d, func() map[string]string { return d.Spec.Template.Annotations }
	default:
		return fmt.Errorf("restart %s: kind %s cannot be restarted", workloadKey, kind)
	}
	value := RestartStamp(at)
	err = c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj)
	switch {
	case err == nil && annotations()[contract.RestartedAtAnnotation] == value:
		return nil
	case err != nil && !apierrors.IsNotFound(err):
		return fmt.Errorf("restart %s: %w", workloadKey, err)
	case err != nil:
		obj.SetNamespace(ns)
		obj.SetName(name)
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{contract.RestartedAtAnnotation: value}}}}})
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("restart %s: %w", workloadKey, err)
	}
	return nil
}

// LastRestart reads the time of a workload's last restart (its template's
// contract.RestartedAtAnnotation, whoever wrote it); zero when it was never
// restarted or the stamp does not parse. Read it with an uncached reader: the
// operator's cache holds only the Deployments it renders.
func LastRestart(ctx context.Context, r client.Reader, workloadKey string) (time.Time, error) {
	kind, ns, name, err := ParseKey(workloadKey)
	if err != nil {
		return time.Time{}, err
	}
	var template *corev1.PodTemplateSpec
	var obj client.Object
	switch kind {
	case KindDeployment:
		d := &appsv1.Deployment{}
		obj, template = d, &d.Spec.Template
	case KindStatefulSet:
		s := &appsv1.StatefulSet{}
		obj, template = s, &s.Spec.Template
	case KindDaemonSet:
		d := &appsv1.DaemonSet{}
		obj, template = d, &d.Spec.Template
	default:
		return time.Time{}, fmt.Errorf("workload %s: kind %s cannot be restarted", workloadKey, kind)
	}
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		return time.Time{}, fmt.Errorf("workload %s: %w", workloadKey, err)
	}
	at, err := time.Parse(time.RFC3339, template.Annotations[contract.RestartedAtAnnotation])
	if err != nil {
		return time.Time{}, nil
	}
	return at, nil
}
