package helm

import (
	"bytes"
	"fmt"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/client-go/rest"
)

// preflight renders the chart in memory exactly as the Helm action is about to
// (same capabilities, values, release options and post-renderer) and reports
// any failure as ErrRenderFailed. Helm's own errors carry no type, and an
// upgrade that fails to render must be told apart from an API error; doing it
// here also guarantees that nothing is written for an input that cannot render.
//
// The capabilities it discovers are stored in cfg so that Helm renders with
// the very same ones. Discovery errors are returned as they are (transient).
// Templates calling `lookup` talk to the API server here too; an API error
// there is reported as a render failure.
func (m *Manager) preflight(cfg *action.Configuration, ch *chart.Chart, values map[string]any,
	opts chartutil.ReleaseOptions, post ownerPostRenderer) error {
	caps, err := m.capabilities()
	if err != nil {
		return err
	}
	cfg.Capabilities = caps
	if _, err := renderManifest(rest.CopyConfig(m.clients.cfg), ch, values, opts, caps, post); err != nil {
		return renderError(err)
	}
	return nil
}

// renderManifest renders ch with values and returns the post-rendered
// manifest (hooks excluded, as Helm hands only manifests to post-renderers).
// cfg may be nil: `lookup` then returns empty results.
func renderManifest(cfg *rest.Config, ch *chart.Chart, values map[string]any, opts chartutil.ReleaseOptions,
	caps *chartutil.Capabilities, post ownerPostRenderer) (string, error) {
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return "", fmt.Errorf("chart requires kubeVersion %s, which is incompatible with Kubernetes %s",
			ch.Metadata.KubeVersion, caps.KubeVersion.String())
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, values); err != nil {
		return "", fmt.Errorf("processing dependencies: %w", err)
	}
	vals, err := chartutil.ToRenderValuesWithSchemaValidation(ch, values, opts, caps, false)
	if err != nil {
		return "", fmt.Errorf("values: %w", err)
	}
	var e engine.Engine
	if cfg != nil {
		e = engine.New(cfg)
	}
	files, err := e.Render(ch, vals)
	if err != nil {
		return "", err
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	_, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return "", fmt.Errorf("parsing rendered manifests: %w", err)
	}
	var buf bytes.Buffer
	for _, mf := range manifests {
		fmt.Fprintf(&buf, "---\n# Source: %s\n%s\n", path.Clean(mf.Name), mf.Content)
	}
	out, err := post.Run(&buf)
	if err != nil {
		return "", fmt.Errorf("post-rendering: %w", err)
	}
	return out.String(), nil
}
