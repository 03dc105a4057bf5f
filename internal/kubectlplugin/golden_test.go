package kubectlplugin

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	c "github.com/meshkeeper/meshkeeper/internal/contract"
	pm "github.com/meshkeeper/meshkeeper/proxy/metrics"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

func midRotation(f *Facts) {
	mi := f.Installation
	mi.Status.Trust.Rotation = &meshv1.RotationStatus{Phase: "AwaitCertificates", Trigger: meshv1.TriggerRequested, OldAnchor: anchorA, NewAnchor: anchorB,
		StartedAt: mt(now.Add(-5 * time.Minute)), PhaseSince: mt(now.Add(-time.Minute)), Converged: 1, Total: 2, Lagging: []string{"demo/frontend-1"},
		Message: "waiting for 1 proxy to hold a certificate of the new issuer"}
	mi.Status.Trust.BundleFingerprints = []string{anchorA, anchorB}
	mi.Status.Trust.Issuer.Fingerprint = issuerJ
	f.Bundles["demo"] = []string{anchorA, anchorB}
	f.Proxies[0].Report.TrustAnchors, f.Proxies[0].Report.Issuer = []string{anchorA, anchorB}, issuerJ
	f.Proxies[1].Report.TrustAnchors = []string{anchorA, anchorB}
}

func upgrading(mi *meshv1.MeshInstallation) {
	mi.Status.InstalledVersion = "0.2.0"
	mi.Status.Upgrade = &meshv1.UpgradeStatus{From: "0.1.0", To: "0.2.0", Phase: "Wave", Step: "bake", CurrentWave: 0,
		StartedAt: mt(now.Add(-4 * time.Minute)),
		Plan: []meshv1.PlannedWave{
			{Name: "canary", Workloads: []string{"Deployment/demo/backend"}, Restarted: []string{"Deployment/demo/backend"}},
			{Name: "rest", Workloads: []string{"Deployment/demo/frontend", "StatefulSet/demo/db"}},
		},
		LastVerdict: &meshv1.GateVerdict{Gate: "control-plane", Passed: true, Reason: "Passed", Message: "control plane ready", At: mt(now.Add(-2 * time.Minute))},
		Message:     "baking wave canary for 1m"}
	mi.Status.UpgradeHistory = []meshv1.UpgradeRecord{{From: "0.1.0", To: "0.2.0", StartedAt: mt(now.Add(-48 * time.Hour)), FinishedAt: mt(now.Add(-47 * time.Hour)), Result: "RolledBack", Reason: "SuccessRateTooLow"}}
}

func TestGoldenCheck(t *testing.T) {
	var buf bytes.Buffer
	RenderChecks(&buf, Checks(healthyFacts()))
	golden(t, "check-healthy", buf.Bytes())

	f := healthyFacts()
	midRotation(&f)
	buf.Reset()
	RenderChecks(&buf, Checks(f))
	golden(t, "check-rotation", buf.Bytes())

	buf.Reset()
	if err := WriteJSON(&buf, CheckReport{Results: Checks(f), Failed: Failed(Checks(f))}); err != nil {
		t.Fatal(err)
	}
	golden(t, "check-rotation.json", buf.Bytes())
}

func TestGoldenStatus(t *testing.T) {
	var buf bytes.Buffer
	RenderStatus(&buf, healthyMI(), now)
	golden(t, "status-healthy", buf.Bytes())

	f := healthyFacts()
	midRotation(&f)
	upgrading(f.Installation)
	buf.Reset()
	RenderStatus(&buf, f.Installation, now)
	golden(t, "status-busy", buf.Bytes())

	buf.Reset()
	_, _ = buf.WriteString(UpgradePlan(f.Installation))
	golden(t, "upgrade-plan", buf.Bytes())
}

func TestGoldenStat(t *testing.T) {
	pods := []corev1.Pod{meshedPod("demo", "backend-1"), meshedPod("demo", "frontend-1")}
	before := fakeMetrics{
		"demo/backend-1":  exposition(t, anchorA, issuerI),
		"demo/frontend-1": exposition(t, anchorA, issuerI),
	}
	after := fakeMetrics{
		"demo/backend-1": exposition(t, anchorA, issuerI, concat(requests(95, c.DirectionInbound, pm.Dst{}, 200, 4*time.Millisecond),
			requests(5, c.DirectionInbound, pm.Dst{}, 500, 30*time.Millisecond))...),
		"demo/frontend-1": exposition(t, anchorA, issuerI, concat(requests(100, c.DirectionOutbound, backendSvc, 200, 6*time.Millisecond),
			requests(3, c.DirectionOutbound, pm.Dst{Namespace: c.DstExternal, Service: c.DstExternal}, 0, time.Second))...),
	}
	ctx := context.Background()
	table := ComputeStat(pods, ScrapeAll(ctx, before, pods, 1), ScrapeAll(ctx, after, pods, 1), 10*time.Second,
		func(p *corev1.Pod) string { return "deploy/" + p.Name[:len(p.Name)-2] })
	var buf bytes.Buffer
	RenderStat(&buf, table)
	golden(t, "stat", buf.Bytes())
	buf.Reset()
	if err := WriteJSON(&buf, table); err != nil {
		t.Fatal(err)
	}
	golden(t, "stat.json", buf.Bytes())
}
