package upgrade

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

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
