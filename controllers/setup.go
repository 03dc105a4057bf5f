package controllers

import (
	"os"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/meshkeeper/meshkeeper/internal/operator/derived"
	"github.com/meshkeeper/meshkeeper/internal/operator/helm"
	"github.com/meshkeeper/meshkeeper/internal/operator/lifecycle"
	"github.com/meshkeeper/meshkeeper/internal/operator/opmetrics"
	"github.com/meshkeeper/meshkeeper/internal/operator/probe"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
	"github.com/meshkeeper/meshkeeper/internal/operator/release"
	"github.com/meshkeeper/meshkeeper/internal/operator/rotation"
	"github.com/meshkeeper/meshkeeper/internal/operator/trust"
	"github.com/meshkeeper/meshkeeper/internal/operator/upgrade"
)

// EventSource is the component name on the operator's events.
const EventSource = "meshkeeper-operator"

// Mesh is how the operator reaches the running mesh: the proxies' metrics and
// the control plane's probes. Tests play it where no mesh runs.
type Mesh struct {
	Proxies proxymetrics.Reader
	// Injector and Identity may be nil (a probe is then skipped).
	Injector probe.InjectorProber
	Identity probe.IdentityProber
	// InjectorCerts reads the serving certificate the injector presents; nil
	// keeps a renewal's old webhook CA trusted.
	InjectorCerts trust.ServingCertReader
	// TrustNamespace is the namespace whose Secrets the operator may watch:
	// its own, where its Role grants list and watch. A steady trust pass for
	// a control plane there reads from informers (trust.Cached); ""
	// reads every pass past the cache; trust.AllNamespaces watches the
	// Secrets of every namespace (envtest).
	TrustNamespace string
}

// NewMeshInstallationReconciler wires the reconciler's dependencies from a
// manager; clk and the mesh are injected so tests can move time and play the
// data plane.
func NewMeshInstallationReconciler(mgr ctrl.Manager, clk clock.PassiveClock, mesh Mesh) (*MeshInstallationReconciler, error) {
	cached, secrets, err := trustCache(mgr, clk, mesh.TrustNamespace)
	if err != nil {
		return nil, err
	}
	recorder := mgr.GetEventRecorder(EventSource)
	memo := release.NewMemo(clk)
	helmClient := &release.MemoHelm{HelmClient: helm.NewManager(mgr.GetConfig(), ctrl.Log.WithName("helm")), Memo: memo}
	cpProbe := &probe.ControlPlane{Client: mgr.GetClient(), Injector: mesh.Injector, Identity: mesh.Identity}
	return &MeshInstallationReconciler{
		Client:       mgr.GetClient(),
		Memo:         memo,
		trustSecrets: secrets,
		Lifecycle: &lifecycle.Reconciler{
			Client:    mgr.GetClient(),
			APIReader: mgr.GetAPIReader(),
			Trust: &rotation.Runner{
				Trust: &trust.Manager{Client: cached.Recording(mgr.GetClient()), APIReader: mgr.GetAPIReader(), Clock: clk,
					Injector: mesh.InjectorCerts, Cached: cached},
				Client:   mgr.GetClient(),
				Proxies:  mesh.Proxies,
				Clock:    clk,
				Recorder: recorder,
			},
			Installer: &release.Installer{
				Helm:     helmClient,
				Drift:    &release.ApplyRepairer{Client: mgr.GetClient(), Memo: memo},
				Recorder: recorder,
			},
			Upgrade: &upgrade.Runner{
				Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Releases: helmClient,
				Proxies: mesh.Proxies, Probe: cpProbe, Clock: clk, Recorder: recorder,
			},
			Probe:       cpProbe,
			Clock:       clk,
			Recorder:    recorder,
			Metrics:     opmetrics.Default(),
			Pods:        CachedPods(mgr.GetCache(), mgr.GetClient()),
			ReplicaSets: CachedReplicaSets(mgr.GetCache(), mgr.GetClient()),
			Derived:     &derived.Memo{},
		},
	}, nil
}

// Environment variables the manager's Deployment sets from the downward API.
const (
	EnvPodNamespace       = "POD_NAMESPACE"
	EnvServiceAccountName = "SERVICE_ACCOUNT_NAME"
)

// InClusterMesh reaches the mesh from the operator's pod: proxies by pod IP,
// the injector through dry-run admission (and its serving certificate by a
// TLS handshake with each pod) and the identity service by its
// Service name with a token for the operator's own ServiceAccount (skipped,
// with a log line, when the downward-API variables are missing, e.g. `make run`).
func InClusterMesh(mgr ctrl.Manager) Mesh {
	ns, sa := os.Getenv(EnvPodNamespace), os.Getenv(EnvServiceAccountName)
	mesh := Mesh{Proxies: proxymetrics.NewScraper(), Injector: probe.DryRunInjection{Client: mgr.GetClient()},
		InjectorCerts: probe.InjectorServingCerts{Client: mgr.GetClient()}, TrustNamespace: ns}
	if ns == "" || sa == "" {
		ctrl.Log.WithName("setup").Info("identity probe disabled: the operator's namespace or ServiceAccount is unknown",
			"env", []string{EnvPodNamespace, EnvServiceAccountName})
		return mesh
	}
	mesh.Identity = &probe.PacedIdentity{Prober: probe.IdentityIssuance{Client: mgr.GetClient(), Namespace: ns, ServiceAccount: sa},
		Pace: probe.DefaultIdentityPace, Now: time.Now}
	return mesh
}
