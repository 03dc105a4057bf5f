package kubectlplugin

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
)

func TestChecksHealthyPass(t *testing.T) {
	results := Checks(healthyFacts())
	if failed := Failed(results); len(failed) > 0 {
		t.Fatalf("healthy mesh failed %v: %+v", failed, results)
	}
	if len(results) != 12 {
		t.Fatalf("want every check judged, got %d", len(results))
	}
}

// TestCheckVerdicts breaks one thing at a time and wants exactly the check
// that judges it to fail, with a message naming the cause.
func TestCheckVerdicts(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(f *Facts)
		failed []string
		says   []string
	}{
		{"no installation", func(f *Facts) { f.Installation = nil }, []string{CheckInstallation}, []string{"no MeshInstallation"}},
		{"two installations", func(f *Facts) {
			f.Installation, f.InstallationErr = nil, errors.New("2 MeshInstallations (a, b): name one with --name")
		},
			[]string{CheckInstallation}, []string{"name one with --name"}},
		{"nothing installed yet", func(f *Facts) { f.Installation.Status.InstalledVersion = "" }, []string{CheckInstallation}, []string{"nothing is installed"}},
		{"stalled", func(f *Facts) {
			meta.SetStatusCondition(&f.Installation.Status.Conditions, metav1.Condition{Type: meshv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: meshv1.ReasonUnsupportedVersion, Message: "9.9.9 is not shipped"})
		}, []string{CheckConditions}, []string{"Stalled (UnsupportedVersion: 9.9.9 is not shipped)"}},
		{"degraded and not ready", func(f *Facts) {
			meta.SetStatusCondition(&f.Installation.Status.Conditions, metav1.Condition{Type: meshv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: meshv1.ReasonReconcileError, Message: "boom"})
			meta.SetStatusCondition(&f.Installation.Status.Conditions, metav1.Condition{Type: meshv1.ConditionReady, Status: metav1.ConditionFalse, Reason: meshv1.ReasonDeploymentsNotReady, Message: "0/1"})
		}, []string{CheckConditions}, []string{"Degraded (ReconcileError: boom)", "not Ready (DeploymentsNotReady: 0/1)"}},
		{"no operator", func(f *Facts) { f.Operator = nil }, []string{CheckOperator}, []string{"no operator Deployment"}},
		{"operator unavailable", func(f *Facts) { f.Operator[0].Status.AvailableReplicas = 0 }, []string{CheckOperator}, []string{"meshkeeper-controller-manager (0/1 available)"}},
		{"control-plane deployment unavailable", func(f *Facts) { f.ControlPlane[1].Status.AvailableReplicas = 0 }, []string{CheckControlPlane}, []string{"meshkeeper-injector (0/1 available)"}},
		{"control-plane deployment not yet observed", func(f *Facts) { f.ControlPlane[0].Generation = 2 }, []string{CheckControlPlane}, []string{"meshkeeper-identity"}},
		{"control-plane pod not ready", func(f *Facts) { f.ControlPlanePods[0].Status.Conditions[0].Status = corev1.ConditionFalse }, []string{CheckControlPlane}, []string{"pod meshkeeper-identity-0 not ready"}},
		{"injector refused", func(f *Facts) {
			f.Injection.Err = errors.New(`Internal error occurred: failed calling webhook "inject.meshkeeper.io"`)
		},
			[]string{CheckInjector}, []string{"refused", "failed calling webhook"}},
		{"injector fails open", func(f *Facts) { f.Injection.ProxyContainer, f.Injection.ProxyVersion = false, "" }, []string{CheckInjector}, []string{"without the proxy"}},
		{"injector injects another version", func(f *Facts) { f.Injection.ProxyVersion = "0.1.0" }, []string{CheckInjector}, []string{`injects proxy "0.1.0", want 0.2.0`}},
		{"bundle missing", func(f *Facts) {
			delete(f.Bundles, "demo")
			f.BundleErrs["demo"] = errors.New(`configmaps "meshkeeper-trust-roots" not found`)
		},
			[]string{CheckBundles}, []string{"demo: configmaps \"meshkeeper-trust-roots\" not found"}},
		{"bundle stale", func(f *Facts) { f.Installation.Status.Trust.BundleFingerprints = []string{anchorA, anchorB} },
			// the proxies trust only A too, so they lag the published bundle
			[]string{CheckBundles, CheckProxies}, []string{"demo: holds [aaaaaaaaaaaa], want [aaaaaaaaaaaa bbbbbbbbbbbb]"}},
		{"anchor expired", func(f *Facts) { f.Installation.Status.Trust.Anchor.NotAfter = mt(now.Add(-2 * time.Hour)) }, []string{CheckAnchor}, []string{"expired 2h0m0s ago"}},
		{"anchor in its renewal window, not rotating", func(f *Facts) { f.Installation.Status.Trust.Anchor.NotAfter = mt(now.Add(10 * 24 * time.Hour)) },
			[]string{CheckAnchor}, []string{"inside its renewal window (renewBefore 720h0m0s)"}},
		{"issuer in its renewal window", func(f *Facts) { f.Installation.Status.Trust.Issuer.NotAfter = mt(now.Add(24 * time.Hour)) }, []string{CheckIssuer}, []string{"expires in 24h0m0s"}},
		{"mid-rotation names the lagging pods", func(f *Facts) {
			f.Installation.Status.Trust.Rotation = &meshv1.RotationStatus{Phase: "AwaitCertificates", Trigger: meshv1.TriggerRequested, OldAnchor: anchorA, NewAnchor: anchorB,
				PhaseSince: mt(now.Add(-time.Minute)), Converged: 1, Total: 2, Lagging: []string{"demo/frontend-1"}}
			f.Installation.Status.Trust.BundleFingerprints = []string{anchorA, anchorB}
			f.Installation.Status.Trust.Issuer.Fingerprint = issuerJ
			f.Bundles["demo"] = []string{anchorB, anchorA}
			f.Proxies[0].Report.TrustAnchors, f.Proxies[0].Report.Issuer = []string{anchorA, anchorB}, issuerJ
			f.Proxies[1].Report.TrustAnchors = []string{anchorA, anchorB}
		}, []string{CheckRotation, CheckProxies}, []string{"lagging: demo/frontend-1", "1 of 2 proxies: demo/frontend-1 (issuer 111111111111, want 222222222222)"}},
		{"upgrade awaiting approval", func(f *Facts) {
			f.Installation.Status.Upgrade = &meshv1.UpgradeStatus{From: "0.1.0", To: "0.2.0", Phase: "AwaitingApproval", CurrentWave: -1}
		}, []string{CheckUpgrade}, []string{"0.1.0 -> 0.2.0 is AwaitingApproval"}},
		{"failed upgrade names its gate", func(f *Facts) {
			f.Installation.Status.Upgrade = &meshv1.UpgradeStatus{From: "0.1.0", To: "0.2.0", Phase: "Failed", CurrentWave: 0,
				LastVerdict: &meshv1.GateVerdict{Gate: "wave/canary", Passed: false, Reason: "SuccessRateTooLow", Message: "success rate 0.90 < 0.99"}}
		}, []string{CheckUpgrade}, []string{"gate wave/canary failed: SuccessRateTooLow (success rate 0.90 < 0.99)"}},
		{"succeeded upgrade passes", func(f *Facts) {
			f.Installation.Status.Upgrade = &meshv1.UpgradeStatus{From: "0.1.0", To: "0.2.0", Phase: "Succeeded"}
		}, nil, nil},
		{"outdated proxy", func(f *Facts) { f.Proxies[1].Report.Version = "0.1.0" }, []string{CheckProxies}, []string{"demo/frontend-1 (version 0.1.0, want 0.2.0)"}},
		{"unreadable proxy", func(f *Facts) { f.Proxies[0].Err = errors.New("connection refused") }, []string{CheckProxies}, []string{"demo/backend-1 (metrics unreadable: connection refused)"}},
		{"unmeshed pod", func(f *Facts) {
			f.Unmeshed = []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "legacy-0"}}}
		}, []string{CheckUnmeshed}, []string{"1 pod(s) run without the proxy: demo/legacy-0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := healthyFacts()
			tc.break_(&f)
			results := Checks(f)
			if got := Failed(results); !slices.Equal(got, tc.failed) {
				t.Fatalf("failed %v, want %v\n%+v", got, tc.failed, results)
			}
			for _, r := range results {
				if !r.OK && r.Hint == "" {
					t.Errorf("%s failed without a hint", r.Name)
				}
			}
			all := ""
			for _, r := range results {
				all += r.Message + "\n"
			}
			for _, s := range tc.says {
				if !strings.Contains(all, s) {
					t.Errorf("messages lack %q:\n%s", s, all)
				}
			}
		})
	}
}

func TestPreCheckVerdicts(t *testing.T) {
	ok := func() PreFacts {
		f := PreFacts{ServerMajor: 1, ServerMinor: 36, ServerGitVersion: "v1.36.0",
			Namespaces: []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "demo", Labels: map[string]string{"meshkeeper.io/inject": "enabled"}}}},
			Nodes: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue}, {Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse}}}}}}
		for _, p := range InstallPermissions {
			f.Access = append(f.Access, AccessAnswer{Permission: p, Allowed: true})
		}
		return f
	}
	cases := []struct {
		name   string
		break_ func(f *PreFacts)
		failed []string
		says   string
	}{
		{"ready cluster", func(*PreFacts) {}, nil, ""},
		{"old Kubernetes", func(f *PreFacts) { f.ServerMinor, f.ServerGitVersion = 28, "v1.28.9" }, []string{"Kubernetes version"}, "v1.28.9 is older than 1.29"},
		{"missing permission", func(f *PreFacts) { f.Access[0].Allowed = false }, []string{"install permissions"}, "you cannot create customresourcedefinitions.apiextensions.k8s.io"},
		{"review failed", func(f *PreFacts) { f.Access[5].Err = errors.New("forbidden") }, []string{"install permissions"}, "create deployments.apps in meshkeeper-system (review failed: forbidden)"},
		{"no review answered", func(f *PreFacts) { f.Access = nil }, []string{"install permissions"}, "no access review"},
		{"restricted namespace", func(f *PreFacts) { f.Namespaces[0].Labels[podSecurityEnforce] = "restricted" }, []string{"Pod Security of meshed namespaces"}, "demo (restricted)"},
		{"privileged namespace", func(f *PreFacts) { f.Namespaces[0].Labels[podSecurityEnforce] = "privileged" }, nil, ""},
		{"no CNI", func(f *PreFacts) {
			f.Nodes[0].Status.Conditions[0] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse,
				Message: "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"}
		}, []string{"CNI"}, "n1: NotReady"},
		{"network unavailable", func(f *PreFacts) {
			f.Nodes[0].Status.Conditions[1] = corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue, Message: "no route"}
		}, []string{"CNI"}, "NetworkUnavailable: no route"},
		{"no nodes", func(f *PreFacts) { f.Nodes = nil }, []string{"CNI"}, "no nodes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := ok()
			tc.break_(&f)
			results := PreChecks(f)
			if got := Failed(results); !slices.Equal(got, tc.failed) {
				t.Fatalf("failed %v, want %v\n%+v", got, tc.failed, results)
			}
			for _, r := range results {
				if !r.OK && !strings.Contains(r.Message, tc.says) {
					t.Errorf("%s: %q lacks %q", r.Name, r.Message, tc.says)
				}
			}
		})
	}
}
