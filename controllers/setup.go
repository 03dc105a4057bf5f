package controllers

import (
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/meshkeeper/meshkeeper/internal/controlplane"
	"github.com/meshkeeper/meshkeeper/internal/helm"
	"github.com/meshkeeper/meshkeeper/internal/lifecycle"
	"github.com/meshkeeper/meshkeeper/internal/rotation"
	"github.com/meshkeeper/meshkeeper/internal/trust"
)

// EventSource is the component name on the operator's events.
const EventSource = "meshkeeper-operator"

// NewMeshInstallationReconciler wires the reconciler's dependencies from a
// manager; clk, the proxies' reader and the injector probe are injected so
// tests can move time and play the data plane.
func NewMeshInstallationReconciler(mgr ctrl.Manager, clk clock.PassiveClock, proxies rotation.ProxyReader, injector lifecycle.InjectorProbe) *MeshInstallationReconciler {
	recorder := mgr.GetEventRecorder(EventSource)
	return &MeshInstallationReconciler{
		Client: mgr.GetClient(),
		Lifecycle: &lifecycle.Reconciler{
			Client:    mgr.GetClient(),
			APIReader: mgr.GetAPIReader(),
			Trust: &rotation.Runner{
				Trust:    &trust.Manager{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: clk},
				Client:   mgr.GetClient(),
				Proxies:  proxies,
				Clock:    clk,
				Recorder: recorder,
			},
			Installer: &controlplane.Installer{
				Helm:     helm.NewManager(mgr.GetConfig(), ctrl.Log.WithName("helm")),
				Drift:    &controlplane.ApplyRepairer{Client: mgr.GetClient()},
				Recorder: recorder,
			},
			Proxies:  proxies,
			Injector: injector,
			Clock:    clk,
			Recorder: recorder,
		},
	}
}
