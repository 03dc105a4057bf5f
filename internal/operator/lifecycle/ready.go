package lifecycle

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/contract/meshns"
	"github.com/meshkeeper/meshkeeper/internal/operator/conditions"
	"github.com/meshkeeper/meshkeeper/internal/operator/helm"
	"github.com/meshkeeper/meshkeeper/internal/operator/versions"
)

const (
	// ReprobeInterval is how long a passed probe of an unchanged control
	// plane stands: a Service that stops routing is noticed within it.
	ReprobeInterval = 5 * time.Minute
	// ProbeRetry is how soon a failed probe is repeated.
	ProbeRetry = 5 * time.Second
	// probeBudget bounds both probes of one pass (each has its own timeout too).
	probeBudget = 20 * time.Second
)

// probeSubject names what a probe vouches for: the release digest and every
// control-plane Deployment's generation. A Helm upgrade or a scale of the
// injector changes it, and the control plane is probed anew.
func probeSubject(digest string, deps []appsv1.Deployment) string {
	parts := make([]string, 0, len(deps))
	for _, d := range deps {
		parts = append(parts, fmt.Sprintf("%s@%d", d.Name, d.Generation))
	}
	sort.Strings(parts)
	return digest + ";" + strings.Join(parts, ",")
}

// probeDue decides whether the probes must run now; when they need not, it
// says how long the last pass stands.
func probeDue(last *meshv1.ProbeStatus, subject string, now time.Time) (bool, time.Duration) {
	if last == nil || last.Subject != subject {
		return true, 0
	}
	left := last.PassedAt.Add(ReprobeInterval).Sub(now)
	if left <= 0 || left > ReprobeInterval { // a clock that went back probes too
		return true, 0
	}
	return false, left
}

// readyProbeNamespace picks where the injector is probed for Ready: a namespace the webhook
// is sent (the chart excludes the system namespaces and the control plane's
// own), preferably a meshed one (label or selector), else "default"; "" when
// none exists.
func readyProbeNamespace(namespaces []corev1.Namespace, selector labels.Selector, controlPlaneNS string) string {
	candidates := map[string]bool{}
	var meshed []string
	for _, ns := range namespaces {
		switch ns.Name {
		case controlPlaneNS, metav1.NamespaceSystem, metav1.NamespacePublic, "kube-node-lease":
			continue
		}
		if ns.DeletionTimestamp != nil {
			continue
		}
		candidates[ns.Name] = true
		if meshns.Meshed(ns.Labels, selector) {
			meshed = append(meshed, ns.Name)
		}
	}
	if len(meshed) > 0 {
		sort.Strings(meshed)
		return meshed[0]
	}
	if candidates[metav1.NamespaceDefault] {
		return metav1.NamespaceDefault
	}
	return ""
}

// earnReady runs the control plane's live probes once its Deployments are
// available, at most once per subject and ReprobeInterval, and feeds the
// verdict into ControlPlaneReady. It returns when to look again (0: no
// opinion) and whether the injector is known to answer now.
func (r *Reconciler) earnReady(ctx context.Context, mi *meshv1.MeshInstallation, rel *helm.Release, deps []appsv1.Deployment,
	namespaces []corev1.Namespace, obs *conditions.Observation) (time.Duration, bool) {
	if rel == nil || rel.Status != helm.StatusDeployed || obs.DeploymentsSeen == 0 || len(obs.NotReady) > 0 {
		mi.Status.ControlPlane.Probe = nil
		return 0, false
	}
	now := r.Clock.Now()
	subject := probeSubject(rel.Digest, deps)
	due, stands := probeDue(mi.Status.ControlPlane.Probe, subject, now)
	if !due {
		return stands, true
	}
	if err := r.probeNow(ctx, mi, rel.ChartVersion, namespaces); err != nil {
		mi.Status.ControlPlane.Probe = nil
		obs.ProbePending = err.Error()
		return ProbeRetry, false
	}
	mi.Status.ControlPlane.Probe = &meshv1.ProbeStatus{Subject: subject, PassedAt: metav1.NewTime(now)}
	return ReprobeInterval, true
}

func (r *Reconciler) probeNow(ctx context.Context, mi *meshv1.MeshInstallation, chartVersion string, namespaces []corev1.Namespace) error {
	ctx, cancel := context.WithTimeout(ctx, probeBudget)
	defer cancel()
	rel, err := versions.Lookup(chartVersion)
	if err != nil {
		return fmt.Errorf("injector probe: %w", err)
	}
	ns := ""
	if r.Probe.ProbesInjector() {
		selector, err := namespaceSelector(mi)
		if err != nil {
			return err
		}
		if ns = readyProbeNamespace(namespaces, selector, mi.Spec.ControlPlane.Namespace); ns == "" {
			return fmt.Errorf("injector probe: no namespace the injector serves exists (label one %s=%s)", contract.InjectKey, contract.InjectEnabled)
		}
	}
	if r.Probe == nil {
		return nil
	}
	return r.Probe.Probe(ctx, mi, ns, rel.ProxyVersion)
}
