// Package controllers holds the thin reconcilers: fetch, finalizer, pause, one
// deferred status patch, then hand off to internal/operator/lifecycle.
package controllers

import (
	"context"
	"errors"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/dataplane"
	"github.com/meshkeeper/meshkeeper/internal/operator/lifecycle"
	"github.com/meshkeeper/meshkeeper/internal/operator/reconcileerr"
	"github.com/meshkeeper/meshkeeper/internal/operator/release"
)

// Finalizer holds a MeshInstallation until its control plane and trust objects are removed.
const Finalizer = "mesh.meshkeeper.io/finalizer"

// MeshInstallationReconciler reconciles MeshInstallation objects.
type MeshInstallationReconciler struct {
	client.Client
	Lifecycle *lifecycle.Reconciler
	// Memo lets a pass over an unchanged installation skip the chart render,
	// the Helm read and the drift dry runs; a new generation resets it.
	Memo *release.Memo
	// seen makes a pass start from the operator's own last write (current).
	seen seenVersions
	// trustSecrets is the informer on the operator's namespace's Secrets
	// (nil when there is none); their changes start passes.
	trustSecrets cache.Cache
}

// +kubebuilder:rbac:groups=mesh.meshkeeper.io,resources=meshinstallations,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=mesh.meshkeeper.io,resources=meshinstallations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=mesh.meshkeeper.io,resources=meshinstallations/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=configmaps;serviceaccounts;services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",namespace=meshkeeper-system,resources=secrets,verbs=get;list;watch;create;update;patch;delete
// The upgrade gate's identity probe mints a token for the operator's own ServiceAccount.
// +kubebuilder:rbac:groups="",namespace=meshkeeper-system,resources=serviceaccounts/token,verbs=create
// Pods are only ever created as server-side dry runs: the upgrade gate probes the injector.
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=statefulsets;daemonsets,verbs=get;list;watch;patch
// The CNI plugin's node agent (spec.dataPlane.redirect CNI) is a DaemonSet the chart renders.
// +kubebuilder:rbac:groups=apps,resources=daemonsets,verbs=create;update;delete
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings;clusterroles;clusterrolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch

// Reconcile brings one MeshInstallation towards its spec.
func (r *MeshInstallationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	mi, err := r.current(ctx, req.NamespacedName)
	if err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// One mesh per cluster: only the owner creates, changes or removes anything.
	owner, err := r.owner(ctx, mi)
	if err != nil {
		return ctrl.Result{}, err
	}
	if owner != mi.Name {
		return r.refuse(ctx, mi, owner)
	}
	if !mi.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, mi)
	}
	if controllerutil.AddFinalizer(mi, Finalizer) {
		if err := r.Update(ctx, mi); err != nil {
			return ctrl.Result{}, err
		}
		r.seen.set(mi)
	}

	base := mi.DeepCopy()
	defer func() {
		if equality.Semantic.DeepEqual(base.Status, mi.Status) {
			return
		}
		if err := r.Status().Patch(ctx, mi, client.MergeFrom(base)); err != nil {
			retErr = errors.Join(retErr, err)
			return
		}
		r.seen.set(mi)
	}()

	if r.Memo != nil {
		r.Memo.Observe(string(mi.UID), mi.Generation)
	}
	if mi.Spec.Paused {
		return ctrl.Result{}, r.Lifecycle.Paused(ctx, mi)
	}
	after, err := r.Lifecycle.Run(ctx, mi)
	return reconcileerr.Result(err, after)
}

func (r *MeshInstallationReconciler) finalize(ctx context.Context, mi *meshv1.MeshInstallation) error {
	if !controllerutil.ContainsFinalizer(mi, Finalizer) {
		return nil
	}
	if err := r.Lifecycle.Finalize(ctx, mi); err != nil {
		return err
	}
	controllerutil.RemoveFinalizer(mi, Finalizer)
	return r.Update(ctx, mi)
}

// SetupWithManager watches installations, the Deployments they render (for
// readiness and drift), namespaces (to publish the trust bundle in new ones,
// and to notice one labelled for injection) and the pods of the mesh.
func (r *MeshInstallationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		For(&meshv1.MeshInstallation{}).
		// The owner's deletion hands the mesh to the next installation in line.
		Watches(&meshv1.MeshInstallation{}, handler.EnqueueRequestsFromMapFunc(r.allInstallations),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc:  func(event.CreateEvent) bool { return false },
				UpdateFunc:  func(event.UpdateEvent) bool { return false },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		Owns(&appsv1.Deployment{}).
		// The CNI plugin's DaemonSet: its status moves with each node's plugin pod.
		Owns(&appsv1.DaemonSet{}).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.allInstallations),
			builder.WithPredicates(predicate.Funcs{
				// A label change can mesh a namespace (inject label or namespaceSelector).
				UpdateFunc: func(e event.UpdateEvent) bool {
					return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
				},
				DeleteFunc:  func(event.DeleteEvent) bool { return false },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		// Meshed pods move the data-plane counts; pods that should be meshed
		// and are not are restarted or reported. Other pods are none of ours,
		// and so are changes no decision reads. A burst of pod events is
		// coalesced into one pass (PodEventWindow).
		Watches(&corev1.Pod{}, coalesced(PodEventWindow, r.allInstallations),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc: func(e event.CreateEvent) bool { return r.ofTheMesh(e.Object.(*corev1.Pod)) },
				DeleteFunc: func(e event.DeleteEvent) bool {
					p, ok := e.Object.(*corev1.Pod)
					return !ok || r.ofTheMesh(p) // a tombstone: look anyway
				},
				UpdateFunc: func(e event.UpdateEvent) bool {
					before, after := e.ObjectOld.(*corev1.Pod), e.ObjectNew.(*corev1.Pod)
					if !r.ofTheMesh(before) && !r.ofTheMesh(after) {
						return false
					}
					return dataplane.PodChangeMatters(before, after)
				},
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		Named("meshinstallation")
	if r.trustSecrets != nil {
		b = b.WatchesRawSource(r.trustSecretEvents())
	}
	return b.Complete(r)
}

// ofTheMesh reports whether a pod is meshed or should be by any
// installation's rule (namespace and installations read from the cache).
func (r *MeshInstallationReconciler) ofTheMesh(p *corev1.Pod) bool {
	if dataplane.HasProxy(p) {
		return true
	}
	ctx := context.Background()
	var ns corev1.Namespace
	if err := r.Get(ctx, client.ObjectKey{Name: p.Namespace}, &ns); err != nil {
		return p.Annotations[contract.InjectKey] == contract.InjectEnabled
	}
	var list meshv1.MeshInstallationList
	if err := r.List(ctx, &list); err != nil {
		return true // look rather than miss it
	}
	for i := range list.Items {
		sel, err := metav1.LabelSelectorAsSelector(list.Items[i].Spec.DataPlane.NamespaceSelector)
		if err != nil || list.Items[i].Spec.DataPlane.NamespaceSelector == nil {
			sel = nil
		}
		if dataplane.ShouldBeMeshed(p, ns.Labels, sel, list.Items[i].Spec.ControlPlane.Namespace) {
			return true
		}
	}
	return false
}

func (r *MeshInstallationReconciler) allInstallations(ctx context.Context, _ client.Object) []reconcile.Request {
	var list meshv1.MeshInstallationList
	if err := r.List(ctx, &list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list installations for a new namespace")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, mi := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&mi)})
	}
	return reqs
}
