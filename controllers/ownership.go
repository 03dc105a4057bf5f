package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/ownership"
)

// owner names the installation that owns the cluster's mesh. The owner's
// claim is its finalizer, which the controller adds (and persists) before
// anything is created.
//
// The cached list answers only for an installation that already holds its
// claim and that the cache names the owner: every claim is made after an
// uncached read (below) showed no other claim, so a claimed installation can
// only lose the mesh to a claim the cache would already hold. Every other
// verdict is read uncached: a cache that has not seen an older installation
// yet would let a later one start installing, and one that still shows a
// deleted owner would make the real owner drop its claim. (Measured on
// bench-operator: one uncached list on every pass.)
func (r *MeshInstallationReconciler) owner(ctx context.Context, mi *meshv1.MeshInstallation) (string, error) {
	if controllerutil.ContainsFinalizer(mi, Finalizer) {
		var cached meshv1.MeshInstallationList
		if err := r.List(ctx, &cached); err == nil && ownerOf(cached) == mi.Name {
			return mi.Name, nil
		}
	}
	var list meshv1.MeshInstallationList
	if err := r.Lifecycle.APIReader.List(ctx, &list); err != nil {
		return "", err
	}
	return ownerOf(list), nil
}

func ownerOf(list meshv1.MeshInstallationList) string {
	cands := make([]ownership.Candidate, 0, len(list.Items))
	for i := range list.Items {
		mi := &list.Items[i]
		cands = append(cands, ownership.Candidate{
			Name: mi.Name, Created: mi.CreationTimestamp.Time,
			Claimed: controllerutil.ContainsFinalizer(mi, Finalizer),
		})
	}
	return ownership.Owner(cands)
}

// refuse handles an installation that does not own the mesh: it reports
// Stalled/Conflict and holds no claim, so its deletion removes nothing. A
// finalizer left by an older operator is dropped without running cleanup.
func (r *MeshInstallationReconciler) refuse(ctx context.Context, mi *meshv1.MeshInstallation, owner string) (ctrl.Result, error) {
	if controllerutil.RemoveFinalizer(mi, Finalizer) {
		if err := r.Update(ctx, mi); err != nil {
			return ctrl.Result{}, err
		}
	}
	if !mi.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	base := mi.DeepCopy()
	r.Lifecycle.Refuse(ctx, mi, ownership.Refusal(owner))
	if equality.Semantic.DeepEqual(base.Status, mi.Status) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, client.IgnoreNotFound(r.Status().Patch(ctx, mi, client.MergeFrom(base)))
}
