//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// loadRPS is the continuous load kept between meshed pods while trust and
// versions change under them.
const loadRPS = 200

func statusString(obj *unstructured.Unstructured, path ...string) string {
	v, _, _ := unstructured.NestedString(obj.Object, append([]string{"status"}, path...)...)
	return v
}

// proxiesAgree checks every meshed backend proxy reports the wanted label values.
func proxiesAgree(cs kubernetes.Interface, want map[string]string) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, ns := range []string{"e2e-mesh", "e2e-strict"} {
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metaListAll)
			if err != nil {
				return err
			}
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil || p.Status.PodIP == "" || p.Labels[contract.ProxyVersionLabel] == "" || p.Labels["app"] != "backend" {
					continue
				}
				fams, err := proxyFamilies(ctx, p.Status.PodIP)
				if err != nil {
					return fmt.Errorf("%s/%s: %w", ns, p.Name, err)
				}
				info := buildInfo(fams)
				for k, v := range want {
					if info[k] != v {
						return fmt.Errorf("%s/%s reports %s=%q, want %q", ns, p.Name, k, info[k], v)
					}
				}
			}
		}
		return nil
	}
}

// testIssuerRotation: with issuers living three minutes and leaf certificates
// one, the operator renews the issuer about every minute; under continuous
// load every request succeeds and every proxy ends on the current issuer.
func testIssuerRotation(t testing.TB, cs kubernetes.Interface, dyn dynamic.Interface, name string) {
	const window = 150 * time.Second
	wait := loadPod(t, cs, "e2e-mesh", "issuer-load", "loadgen", "http://backend.e2e-mesh.svc/", loadRPS, window)
	seen := map[string]bool{statusString(getMI(t, dyn, name), "trust", "issuer", "fingerprint"): true}
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) {
		seen[statusString(getMI(t, dyn, name), "trust", "issuer", "fingerprint")] = true
		time.Sleep(5 * time.Second)
	}
	s := wait()
	requireClean(t, s)
	if len(seen) < 3 {
		t.Fatalf("want at least two issuer renewals during the load, saw issuers %v", seen)
	}
	t.Logf("FIGURE issuers-during-load=%d", len(seen))
	issuer := statusString(getMI(t, dyn, name), "trust", "issuer", "fingerprint")
	eventually(t, ctxFor(t, 2*time.Minute), "every proxy holds a certificate from the current issuer",
		func(ctx context.Context) error {
			// The issuer keeps renewing: compare with the one in status now.
			issuer = statusString(getMI(t, dyn, name), "trust", "issuer", "fingerprint")
			return proxiesAgree(cs, map[string]string{contract.LabelIssuer: issuer})(ctx)
		})
}

// testAnchorRotation: an on-demand anchor rotation walks its phases while
// continuous load sees no failure; at the end every proxy trusts only the new
// anchor.
func testAnchorRotation(t testing.TB, cs kubernetes.Interface, dyn dynamic.Interface, name string) {
	const window = 120 * time.Second
	old := statusString(getMI(t, dyn, name), "trust", "anchor", "fingerprint")
	wait := loadPod(t, cs, "e2e-mesh", "anchor-load", "loadgen", "http://backend.e2e-mesh.svc/", loadRPS, window)
	time.Sleep(10 * time.Second) // let the load settle first
	started := time.Now()
	patchMI(t, dyn, name, fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, "mesh.meshkeeper.io/rotate-anchor", fmt.Sprint(started.Unix())))
	// While it waits on proxies, kubectl meshkeeper check fails naming them.
	requireCheckNamesLaggards(t, dyn, name, old)
	phases := map[string]bool{}
	eventually(t, ctxFor(t, window-30*time.Second), "anchor rotation completed", func(ctx context.Context) error {
		mi := getMI(t, dyn, name)
		if p := statusString(mi, "trust", "rotation", "phase"); p != "" {
			phases[p] = true
			return fmt.Errorf("phase %s: %s", p, statusString(mi, "trust", "rotation", "message"))
		}
		if statusString(mi, "trust", "lastRotation", "oldAnchor") != old {
			return fmt.Errorf("not started yet")
		}
		return nil
	})
	took := time.Since(started)
	mi := getMI(t, dyn, name)
	newAnchor := statusString(mi, "trust", "lastRotation", "newAnchor")
	if newAnchor == "" || newAnchor == old || statusString(mi, "trust", "anchor", "fingerprint") != newAnchor {
		t.Fatalf("rotation recorded %q -> %q, active anchor %q", old, newAnchor, statusString(mi, "trust", "anchor", "fingerprint"))
	}
	t.Logf("FIGURE anchor-rotation-seconds=%.0f phases-seen=%v", took.Seconds(), phases)
	eventually(t, ctxFor(t, time.Minute), "every proxy trusts only the new anchor",
		proxiesAgree(cs, map[string]string{contract.LabelTrustAnchors: newAnchor}))
	requireClean(t, wait())
	// After the promotion check passes again, and the operator's metrics
	// carry the new anchor's (and the current issuer's) expiry.
	requireCheckPasses(t, 2*time.Minute)
	requireExpiryMetrics(t, cs, name, newAnchor)
}
