package helm

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/chartutil"
)

// Validate renders req in memory, with the cluster's capabilities but without
// touching storage or objects, and returns ErrRenderFailed when the chart does
// not render with these values. The operator calls it before creating anything
// for a spec, so a bad input changes nothing.
func (m *Manager) Validate(_ context.Context, req InstallRequest) error {
	if err := req.validate(); err != nil {
		return fmt.Errorf("helm validate: %w", err)
	}
	caps, err := m.capabilities()
	if err != nil {
		return err
	}
	opts := chartutil.ReleaseOptions{Name: req.ReleaseName, Namespace: req.Namespace, Revision: 1, IsInstall: true}
	if _, err := renderManifest(nil, req.Chart.helmChart(), req.Values, opts, caps, ownerPostRenderer{owner: req.Owner}); err != nil {
		return fmt.Errorf("helm validate %s/%s: %w", req.Namespace, req.ReleaseName, renderError(err))
	}
	return nil
}
