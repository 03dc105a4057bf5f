package controllers

import (
	"context"
	"strings"
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
	// The owner check of a claimed owner and the control-plane Deployments
	// (read past the cache only while an upgrade gates on them) come from the
	// cache, and so do the trust Secrets and bundle of a steady pass
	// (rotation.Runner's cached trial over the trust informer).
	if n := got.Match("list", "meshinstallations.mesh.meshkeeper.io") + got.Match("list", "deployments.apps"); n != 0 {
		t.Errorf("20 unchanged passes listed installations or Deployments past the cache %d times; all requests:\n%v", n, got.Lines(20))
	}
	if n := got.Match("get", ""); n != 0 {
		t.Errorf("20 unchanged passes read %d objects past the cache, want none; all requests:\n%v", n, got.Lines(20))
	}
	t.Logf("requests per unchanged pass:\n%s", strings.Join(got.Lines(20), "\n"))
}
