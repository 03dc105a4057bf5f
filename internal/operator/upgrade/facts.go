package upgrade

import (
	"time"

	policyv1 "k8s.io/api/policy/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
)

// ControlPlane is the observed control-plane release.
type ControlPlane struct {
	// Version is the mesh version of the last deployed release ("" when none).
	Version string
	// Settled: the release at Version is deployed with the wanted chart and
	// values (no action pending or failed).
	Settled bool
	// Failed: the last Helm action towards the wanted version failed and will
	// not be retried as is; Problem says why.
	Failed bool
	// Ready: the control plane is healthy: Deployments available, identity
	// issuing, injector answering. Problem says what is not. Observed only
	// while the machine gates on the control plane (GatesControlPlane);
	// false otherwise.
	Ready   bool
	Problem string
	// Redirect is the redirect mode the deployed release was rendered with
	// (status.redirect; "" before any release was deployed).
	Redirect meshv1.RedirectMode
}

// Reading is what the gate source saw over the scope a Step asked for.
type Reading struct {
	// Counters are the summed cumulative inbound counters of the scope's
	// proxies now (Proxies source; see SumReports).
	Counters *proxymetrics.Traffic
	// Window is a measurement over the window the Step asked for (Prometheus source).
	Window *Measurement
	// Err says the reading failed; the machine waits (within the step deadline).
	Err error
}

func (r Reading) empty() bool { return r.Counters == nil && r.Window == nil && r.Err == nil }

// Facts is everything an upgrade step depends on. All of it is observed or
// read from the installation; none is remembered between reconciles.
type Facts struct {
	Now  time.Time
	Spec meshv1.MeshInstallationSpec
	// Upgrade and History are status.upgrade and status.upgradeHistory as read.
	Upgrade *meshv1.UpgradeStatus
	History []meshv1.UpgradeRecord
	// Supported lists the shipped mesh versions (versions.Supported()).
	Supported []string
	// ProxyVersions maps a mesh version to its proxy version; a version
	// missing from it is its own proxy version.
	ProxyVersions map[string]string
	ControlPlane  ControlPlane
	// Workloads are the meshed workloads (MeshedWorkloads).
	Workloads []Workload
	// NamespaceLabels are the labels of the workloads' namespaces, for planning.
	NamespaceLabels map[string]map[string]string
	// PDBs are the PodDisruptionBudgets of the workloads' namespaces.
	PDBs []policyv1.PodDisruptionBudget
	// Reading is the gate reading, when a previous Step with NeedReading asked for it.
	Reading Reading
}
