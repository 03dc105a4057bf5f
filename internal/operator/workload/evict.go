package workload

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Evict asks the Eviction API to remove one pod ("namespace/name") so its
// controller creates it anew. It reports whether the pod is gone or going: a
// PodDisruptionBudget that allows no disruption now (429) is not an error —
// the caller asks again later — and neither is a pod already gone.
func Evict(ctx context.Context, c client.Client, podKey string) (bool, error) {
	ns, name, ok := strings.Cut(podKey, "/")
	if !ok || ns == "" || name == "" {
		return false, fmt.Errorf("evict %q: want namespace/name", podKey)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	err := c.SubResource("eviction").Create(ctx, pod, eviction)
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return true, nil
	case apierrors.IsTooManyRequests(err):
		return false, nil
	}
	return false, fmt.Errorf("evict %s: %w", podKey, err)
}
