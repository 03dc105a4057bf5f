package controllers

import (
	"context"
	"testing"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// An unchanged installation costs no writes, no Helm read (Helm lists its
// storage Secrets), no render (Helm discovers the API first) and no dry-run
// apply. Requests are counted, not timed.
func TestUnchangedInstallationCostsNoWritesAndNoHelmRead(t *testing.T) {
	installReady(t, "noop", "mk-noop")
	markDeploymentsAvailable(t, "mk-noop")
	ctx := context.Background()
	req := ctrl.Request{NamespacedName: client.ObjectKey{Name: "noop"}}
	// One pass sees the Deployments' last status change; after it nothing changes.
	if _, err := reconciler.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	apiCalls.Reset()
	for range 20 {
		if _, err := reconciler.Reconcile(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	got := apiCalls.Snapshot()
	dryRuns := 0
	for k, n := range got {
		if k.DryRun {
			dryRuns += n
		}
	}
	if got.Writes() != 0 || got.Match("list", "secrets") != 0 || dryRuns != 0 || got.Match("get", "/version") != 0 {
		t.Errorf("20 unchanged passes: %d writes, %d Helm storage lists, %d dry runs, %d discoveries; all requests:\n%v",
			got.Writes(), got.Match("list", "secrets"), dryRuns, got.Match("get", "/version"), got.Lines(20))
	}
}
