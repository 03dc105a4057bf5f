//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// controlPlaneRelease is the operator's Helm release of the control plane
// (internal/operator/release.ReleaseName; not imported to keep Helm out of
// the e2e binary).
const controlPlaneRelease = "meshkeeper-control-plane"

// meshState is what a second installation must never change of the first.
type meshState struct {
	anchor       string            // status.trust.anchor.fingerprint
	bundles      map[string]string // namespace → published bundle PEM and its owner label
	bundleAnchor map[string]bool   // fingerprints of the anchors in the bundles
	release      string            // latest Helm revision and its status
	deployments  map[string]string // control-plane Deployment → UID/generation
}

func snapshotState(t testing.TB, cs kubernetes.Interface, dyn dynamic.Interface, name string, namespaces ...string) meshState {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	st := meshState{anchor: statusString(getMI(t, dyn, name), "trust", "anchor", "fingerprint"),
		bundles: map[string]string{}, bundleAnchor: map[string]bool{}, deployments: map[string]string{}}
	for _, ns := range namespaces {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, contract.TrustRootsConfigMap, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("trust bundle in %s: %v", ns, err)
		}
		pemText := cm.Data[contract.TrustRootsKey]
		st.bundles[ns] = pemText + " owner=" + cm.Labels[contract.InstallationLabel]
		for _, fp := range pemFingerprints(t, pemText) {
			st.bundleAnchor[fp] = true
		}
	}
	revs, err := cs.CoreV1().Secrets(operatorNamespace).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + controlPlaneRelease})
	if err != nil {
		t.Fatal(err)
	}
	latest := 0
	for _, s := range revs.Items {
		if v, err := strconv.Atoi(s.Labels["version"]); err == nil && v > latest {
			latest, st.release = v, fmt.Sprintf("%d (%s)", v, s.Labels["status"])
		}
	}
	deps, err := cs.AppsV1().Deployments(operatorNamespace).List(ctx, metav1.ListOptions{LabelSelector: contract.InstallationLabel + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		st.deployments[d.Name] = fmt.Sprintf("%s/%d", d.UID, d.Generation)
	}
	return st
}

// pemFingerprints are the SHA-256 fingerprints of the certificates in a PEM
// bundle, as the operator writes them in status (pki.Fingerprint).
func pemFingerprints(t testing.TB, bundle string) []string {
	t.Helper()
	var out []string
	rest := []byte(bundle)
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return out
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("trust bundle: %v", err)
		}
		sum := sha256.Sum256(cert.Raw)
		out = append(out, hex.EncodeToString(sum[:]))
	}
}

// testSecondInstallation: a second MeshInstallation with the sample's
// default spec is refused (Stalled, Conflict, naming the owner), never Ready;
// deleting it leaves the first's anchor, published bundles, Helm release and
// control plane exactly as they were, and meshed traffic never fails.
func testSecondInstallation(t testing.TB, cs kubernetes.Interface, dyn dynamic.Interface, name string) {
	const second = "mesh2"
	bundleNamespaces := []string{operatorNamespace, "e2e-mesh"}
	before := snapshotState(t, cs, dyn, name, bundleNamespaces...)
	if before.anchor == "" || !before.bundleAnchor[before.anchor] || before.release == "" || len(before.deployments) == 0 {
		t.Fatalf("the first installation is not fully there: %+v", before)
	}
	wait := loadPod(t, cs, "e2e-mesh", "second-load", "loadgen", "http://backend.e2e-mesh.svc/", loadRPS, 75*time.Second)
	eventually(t, ctxFor(t, time.Minute), "load generator running", podRunning(cs, "e2e-mesh", "second-load"))
	time.Sleep(5 * time.Second)

	mi := readSample(t)
	mi.SetName(second)
	if _, err := dyn.Resource(meshInstallations).Create(ctxFor(t, 30*time.Second), mi, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s: %v", second, err)
	}
	created := time.Now()
	t.Cleanup(func() {
		_ = dyn.Resource(meshInstallations).Delete(context.Background(), second, metav1.DeleteOptions{})
	})
	var stalled map[string]any
	eventually(t, ctxFor(t, 2*time.Minute), second+" Stalled Conflict", func(ctx context.Context) error {
		c := findCondition(getMI(t, dyn, second), "Stalled")
		if c["status"] != "True" || c["reason"] != "Conflict" {
			return fmt.Errorf("Stalled %v", c)
		}
		stalled = c
		return nil
	})
	if msg := fmt.Sprint(stalled["message"]); !strings.Contains(msg, fmt.Sprintf("%q", name)) {
		t.Errorf("the refusal should name the owner %q: %s", name, msg)
	}
	t.Logf("FIGURE second-installation refused after %.1fs: %v", time.Since(created).Seconds(), stalled["message"])
	// Keep it some reconcile passes (and an issuer renewal of the first) long;
	// it must stay refused and own nothing the whole time.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		obj := getMI(t, dyn, second)
		if err := conditionTrue(obj, "Ready"); err == nil {
			t.Fatalf("%s became Ready", second)
		}
		if f := obj.GetFinalizers(); len(f) > 0 {
			t.Fatalf("%s holds finalizers %v: a refused installation must not claim anything", second, f)
		}
		if err := conditionTrue(getMI(t, dyn, name), "Ready"); err != nil {
			t.Fatalf("the first installation left Ready while %s existed: %v", second, err)
		}
	}
	if err := dyn.Resource(meshInstallations).Delete(ctxFor(t, 30*time.Second), second, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete %s: %v", second, err)
	}
	eventually(t, ctxFor(t, time.Minute), second+" gone", func(ctx context.Context) error {
		if _, err := dyn.Resource(meshInstallations).Get(ctx, second, metav1.GetOptions{}); !isNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	// The first installation's next passes find everything it had.
	time.Sleep(10 * time.Second)
	eventually(t, ctxFor(t, time.Minute), "control plane ready", func(ctx context.Context) error {
		for d := range before.deployments {
			if err := deploymentReady(cs, operatorNamespace, d)(ctx); err != nil {
				return err
			}
		}
		return miCondition(dyn, name, "Ready")(ctx)
	})
	after := snapshotState(t, cs, dyn, name, bundleNamespaces...)
	switch {
	case after.anchor != before.anchor:
		t.Errorf("anchor changed: %s → %s", before.anchor, after.anchor)
	case after.release != before.release:
		t.Errorf("Helm release moved: %s → %s", before.release, after.release)
	case fmt.Sprint(after.deployments) != fmt.Sprint(before.deployments):
		t.Errorf("control-plane Deployments changed: %v → %v", before.deployments, after.deployments)
	}
	for ns, b := range before.bundles {
		if after.bundles[ns] != b {
			t.Errorf("trust bundle in %s changed:\n%s\n→\n%s", ns, b, after.bundles[ns])
		}
	}
	t.Logf("FIGURE first installation unchanged: anchor %s, release revision %s, %d control-plane Deployments, bundles in %v",
		before.anchor[:16], before.release, len(before.deployments), bundleNamespaces)
	requireClean(t, wait())
}
