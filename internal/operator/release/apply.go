package release

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/events"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/charts"
	"github.com/meshkeeper/meshkeeper/internal/operator/helm"
	"github.com/meshkeeper/meshkeeper/internal/operator/ownership"
	"github.com/meshkeeper/meshkeeper/internal/operator/reconcileerr"
	"github.com/meshkeeper/meshkeeper/internal/operator/versions"
)

// HelmClient is the part of helm.Manager the installer uses.
type HelmClient interface {
	Get(ctx context.Context, namespace, name string) (*helm.Release, error)
	Validate(ctx context.Context, req helm.InstallRequest) error
	Install(ctx context.Context, req helm.InstallRequest) (*helm.Release, error)
	Upgrade(ctx context.Context, req helm.InstallRequest) (*helm.Release, error)
	Rollback(ctx context.Context, namespace, name string, toRevision int) (*helm.Release, error)
	Uninstall(ctx context.Context, namespace, name string) error
	Unlock(ctx context.Context, namespace, name string) (*helm.Release, error)
	Objects(rel *helm.Release) ([]*unstructured.Unstructured, error)
}

// DriftRepairer re-asserts rendered objects that were deleted or edited.
type DriftRepairer interface {
	Repair(ctx context.Context, objs []*unstructured.Unstructured) (repaired []string, err error)
}

// Installer drives the control-plane release of one installation.
type Installer struct {
	Helm     HelmClient
	Drift    DriftRepairer
	Recorder events.EventRecorder
}

// Desired is the release an installation wants.
type Desired struct {
	Version string
	Chart   *helm.Chart
	Values  map[string]any
	Digest  string
}

// Resolve loads the chart of a mesh version (the one the upgrade machine says
// the control plane runs now) and derives values and digest. An unknown
// version or unusable values stall: nothing is installed or changed.
func Resolve(mi *meshv1.MeshInstallation, version string, webhookCABundle []byte) (*Desired, error) {
	rel, err := versions.Lookup(version)
	if err != nil {
		return nil, reconcileerr.Stalledf(meshv1.ReasonUnsupportedVersion, "%v", err)
	}
	chart, err := embeddedChart(rel.Chart)
	if err != nil {
		return nil, err
	}
	vals, err := Values(mi, rel, webhookCABundle)
	if err != nil {
		return nil, reconcileerr.Stalledf(meshv1.ReasonInvalidValues, "%v", err)
	}
	digest, err := Digest(chart.Digest(), vals)
	if err != nil {
		return nil, err
	}
	return &Desired{Version: version, Chart: chart, Values: vals, Digest: digest}, nil
}

// loadedCharts holds each embedded chart once loaded (*helm.Chart by
// directory). The embedded files never change and a loaded Chart is
// immutable, so every pass can share it: parsing the chart's YAML twice a
// pass was a twentieth of an unchanged pass's CPU at bench-operator's large
// point, and most of its garbage after the pods.
var loadedCharts sync.Map

func embeddedChart(dir string) (*helm.Chart, error) {
	if c, ok := loadedCharts.Load(dir); ok {
		return c.(*helm.Chart), nil
	}
	chart, err := helm.LoadChart(charts.FS, dir)
	if err != nil {
		return nil, fmt.Errorf("load embedded chart %s: %w", dir, err)
	}
	c, _ := loadedCharts.LoadOrStore(dir, chart)
	return c.(*helm.Chart), nil
}

// Reconcile takes the release one action at a time towards the desired digest,
// never running the same action twice in one pass, and records what it saw
// in mi.Status.ControlPlane.
func (in *Installer) Reconcile(ctx context.Context, mi *meshv1.MeshInstallation, want *Desired) (*helm.Release, error) {
	log := logr.FromContextOrDiscard(ctx)
	ns := mi.Spec.ControlPlane.Namespace
	st := &mi.Status.ControlPlane
	st.ReleaseName = ReleaseName
	done := map[ReleaseAction]bool{}
	for {
		rel, err := in.Helm.Get(ctx, ns, ReleaseName)
		if err != nil {
			return nil, err
		}
		if err := checkOwner(rel, mi); err != nil {
			return nil, err
		}
		recordRelease(st, rel)
		d := NextReleaseAction(facts(rel, want.Digest, st))
		log.V(1).Info("control-plane release", "action", d.Action, "reason", d.Reason)
		switch {
		case d.Action == ReleaseInSync:
			return rel, in.repairDrift(ctx, mi, rel)
		case d.Action == ReleaseHold:
			return rel, reconcileerr.Stalledf(failedReason(rel), "%s", d.Reason)
		case done[d.Action]:
			return rel, fmt.Errorf("release still needs %s after doing it once in this pass: %s", d.Action, d.Reason)
		}
		done[d.Action] = true
		if err := in.act(ctx, mi, want, rel, d); err != nil {
			return rel, err
		}
	}
}

func (in *Installer) act(ctx context.Context, mi *meshv1.MeshInstallation, want *Desired, rel *helm.Release, d Decision) error {
	ns := mi.Spec.ControlPlane.Namespace
	st := &mi.Status.ControlPlane
	req := installRequest(mi, want)
	var err error
	switch d.Action {
	case ReleaseUnlock:
		if _, err = in.Helm.Unlock(ctx, ns, ReleaseName); err == nil {
			in.event(mi, "Warning", "ReleaseUnlocked", "Unlock", "Control-plane release: %s; marked failed to recover", d.Reason)
		}
		return err
	case ReleaseRollback:
		if _, err = in.Helm.Rollback(ctx, ns, ReleaseName, rel.LastDeployedRevision); err == nil {
			in.event(mi, "Warning", meshv1.ReasonRolledBack, "Rollback", "Control-plane release rolled back to revision %d after a failed upgrade", rel.LastDeployedRevision)
		}
		return err
	case ReleaseInstall:
		_, err = in.Helm.Install(ctx, req)
	case ReleaseUpgrade:
		_, err = in.Helm.Upgrade(ctx, req)
	}
	if err != nil {
		return in.failed(mi, want, d.Action, err)
	}
	st.FailedDigest, st.Failures = "", 0
	verb := map[ReleaseAction]string{ReleaseInstall: "Installed", ReleaseUpgrade: "Upgraded"}[d.Action]
	in.event(mi, "Normal", verb, string(d.Action), "Control-plane %s %s in %s (%s)", want.Version, verb, ns, d.Reason)
	return nil
}

// failed records a failed install or upgrade. A render failure is terminal at
// once; anything else is retried with backoff until MaxAttempts.
func (in *Installer) failed(mi *meshv1.MeshInstallation, want *Desired, action ReleaseAction, err error) error {
	digest := want.Digest
	st := &mi.Status.ControlPlane
	if st.FailedDigest != digest {
		st.FailedDigest, st.Failures = digest, 0
	}
	st.Failures++
	reason := meshv1.ReasonInstallFailed
	if action == ReleaseUpgrade {
		reason = meshv1.ReasonUpgradeFailed
	}
	in.event(mi, "Warning", reason, string(action), "Control-plane %s failed (attempt %d of %d): %v", action, st.Failures, MaxAttempts, err)
	if errors.Is(err, helm.ErrRenderFailed) {
		st.Failures = MaxAttempts
		return reconcileerr.Stalledf(meshv1.ReasonInvalidValues, "chart %s does not render with these values: %v", want.Version, err)
	}
	return err
}

// Validate renders the desired release without installing anything; a chart
// that does not render with the spec's values stalls the installation.
func (in *Installer) Validate(ctx context.Context, mi *meshv1.MeshInstallation, want *Desired) error {
	err := in.Helm.Validate(ctx, installRequest(mi, want))
	if errors.Is(err, helm.ErrRenderFailed) {
		return reconcileerr.Stalledf(meshv1.ReasonInvalidValues, "chart %s does not render with these values: %v", want.Version, err)
	}
	return err
}

func installRequest(mi *meshv1.MeshInstallation, want *Desired) helm.InstallRequest {
	return helm.InstallRequest{
		ReleaseName: ReleaseName, Namespace: mi.Spec.ControlPlane.Namespace,
		Chart: want.Chart, Values: want.Values, Digest: want.Digest,
		Owner: helm.Owner{
			APIVersion: meshv1.GroupVersion.String(), Kind: "MeshInstallation", Name: mi.Name, UID: mi.UID,
			Labels: map[string]string{contract.InstallationLabel: mi.Name},
		},
		CreateNamespace: true,
	}
}

// Uninstall removes the release; rendered objects go with it.
func (in *Installer) Uninstall(ctx context.Context, mi *meshv1.MeshInstallation) error {
	rel, err := in.Helm.Get(ctx, mi.Spec.ControlPlane.Namespace, ReleaseName)
	if err != nil {
		return err
	}
	if err := checkOwner(rel, mi); err != nil {
		return err
	}
	if err := in.Helm.Uninstall(ctx, mi.Spec.ControlPlane.Namespace, ReleaseName); err != nil {
		return err
	}
	in.event(mi, "Normal", "Uninstalled", "Uninstall", "Control-plane release removed from %s", mi.Spec.ControlPlane.Namespace)
	return nil
}

func (in *Installer) repairDrift(ctx context.Context, mi *meshv1.MeshInstallation, rel *helm.Release) error {
	if in.Drift == nil {
		return nil
	}
	objs, err := in.Helm.Objects(rel)
	if err != nil {
		return err
	}
	repaired, err := in.Drift.Repair(ctx, objs)
	if len(repaired) > 0 {
		in.event(mi, "Warning", "DriftRepaired", "Repair", "Restored control-plane objects changed outside the operator: %v", repaired)
	}
	return err
}

func (in *Installer) event(mi *meshv1.MeshInstallation, eventType, reason, action, note string, args ...any) {
	if in.Recorder != nil {
		in.Recorder.Eventf(mi, nil, eventType, reason, action, note, args...)
	}
}

func failedReason(rel *helm.Release) string {
	if rel != nil && rel.LastDeployedRevision > 0 {
		return meshv1.ReasonUpgradeFailed
	}
	return meshv1.ReasonInstallFailed
}

// checkOwner refuses a release whose ownership claim names another
// installation: no install, upgrade, rollback, unlock or uninstall touches it.
// An unclaimed release (written before the claim existed) is adopted by the
// next install or upgrade.
func checkOwner(rel *helm.Release, mi *meshv1.MeshInstallation) error {
	if rel == nil {
		return nil
	}
	return ownership.Check("Helm release", rel.Namespace+"/"+rel.Name, rel.Owner, mi.Name)
}
