package cninode

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// DaemonSet reads an installation's CNI plugin DaemonSet; nil when it is
// missing or not labelled for this installation (then it is not the plugin
// this installation rendered).
func DaemonSet(ctx context.Context, c client.Reader, namespace, installation string) (*appsv1.DaemonSet, error) {
	var ds appsv1.DaemonSet
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: contract.CNIDaemonSetName}, &ds)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	case ds.Labels[contract.InstallationLabel] != installation:
		return nil, nil
	}
	return &ds, nil
}
