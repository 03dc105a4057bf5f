//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/meshkeeper/meshkeeper/internal/kubectlplugin"
)

// laggingNames are the pods the trust rotation check names after
// "lagging: " (listNames: "a, b, and 3 more").
func laggingNames(msg string) []string {
	_, list, ok := strings.Cut(msg, "lagging: ")
	if !ok {
		return nil
	}
	list = regexp.MustCompile(`,? and \d+ more$`).ReplaceAllString(list, "")
	return strings.Split(list, ", ")
}

// requireCheckNamesLaggards runs `check` while the anchor rotation waits on
// proxies (status.trust.rotation.lagging is not empty). Every such run must
// exit 1 with the trust rotation check failed; one must name lagging pods
// that the proxies check, from the build_info the plugin read itself, also
// names as not converged. A run that finds a pod converged since status was
// written is repeated.
func requireCheckNamesLaggards(t testing.TB, dyn dynamic.Interface, name, oldAnchor string) {
	t.Helper()
	runs := 0
	eventually(t, ctxFor(t, 2*time.Minute), "check names the lagging pods mid-rotation", func(context.Context) error {
		mi := getMI(t, dyn, name)
		phase := statusString(mi, "trust", "rotation", "phase")
		if lagging, _, _ := unstructured.NestedStringSlice(mi.Object, "status", "trust", "rotation", "lagging"); len(lagging) == 0 {
			if phase == "" && statusString(mi, "trust", "lastRotation", "oldAnchor") == oldAnchor {
				t.Fatalf("the rotation finished before check named a lagging pod (%d run(s) of check)", runs)
			}
			return fmt.Errorf("rotation phase %q, no lagging proxy in status", phase)
		}
		runs++
		rep, code := pluginCheck(t)
		rot := checkResult(t, rep, kubectlplugin.CheckRotation)
		if rot.OK {
			return fmt.Errorf("check saw no rotation (finished since status was read?): %s", rot.Message)
		}
		if code != 1 || !slices.Contains(rep.Failed, kubectlplugin.CheckRotation) {
			t.Fatalf("mid-rotation check exited %d, failed %v; want exit 1 naming %q", code, rep.Failed, kubectlplugin.CheckRotation)
		}
		named := laggingNames(rot.Message)
		proxies := checkResult(t, rep, kubectlplugin.CheckProxies)
		var both []string
		for _, pod := range named {
			if !proxies.OK && strings.Contains(proxies.Message, pod+" (") {
				both = append(both, pod)
			}
		}
		if len(both) == 0 {
			return fmt.Errorf("exit %d; rotation check names lagging %v, proxies check: %s", code, named, proxies.Message)
		}
		t.Logf("FIGURE mid-rotation check exit=%d failed=%v lagging=%v", code, rep.Failed, named)
		t.Logf("FIGURE mid-rotation %s: %s", kubectlplugin.CheckRotation, rot.Message)
		t.Logf("FIGURE mid-rotation %s: %s", kubectlplugin.CheckProxies, proxies.Message)
		return nil
	})
}

// requireCheckNamesFailedGate runs `check` after a rolled-back upgrade: it
// must exit 1 with the upgrade check naming the gate that failed.
func requireCheckNamesFailedGate(t testing.TB, gate string) {
	t.Helper()
	rep, code := pluginCheck(t)
	up := checkResult(t, rep, kubectlplugin.CheckUpgrade)
	if code != 1 || up.OK || !strings.Contains(up.Message, "gate "+gate+" failed") {
		t.Fatalf("after the rolled-back upgrade check exited %d with %s: %+v; want exit 1 naming gate %s\n%s",
			code, kubectlplugin.CheckUpgrade, up, gate, failedSummary(rep))
	}
	t.Logf("FIGURE failed-upgrade check exit=%d failed=%v", code, rep.Failed)
	t.Logf("FIGURE failed-upgrade %s: %s", kubectlplugin.CheckUpgrade, up.Message)
}
