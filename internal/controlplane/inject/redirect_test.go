package inject

import (
	"io"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/netinit"
)

func cniConfig() Config {
	c := testConfig()
	c.Redirect = contract.RedirectCNI
	return c
}

func containerNames(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// In CNI mode the pod gets no proxy-init, an unprivileged check first, and
// the annotation the CNI plugin reads: the very command line proxy-init gets
// in InitContainer mode, so both install one plan.
func TestMutateCNIMode(t *testing.T) {
	annotations := map[string]string{
		contract.SkipInboundPortsAnnotation:  "9090, 8081",
		contract.SkipOutboundPortsAnnotation: "5432",
		contract.CNIRedirectAnnotation:       "--proxy-uid=0", // the pod's own value: never trusted
	}
	ns := testNamespace("shop", map[string]string{contract.InjectKey: contract.InjectEnabled}, nil)
	viaInit, _ := Mutate(testPod(annotations), ns, testConfig())
	viaCNI, warnings := Mutate(testPod(annotations), ns, cniConfig())
	if len(warnings) != 0 {
		t.Fatalf("warnings %v", warnings)
	}
	if got, want := containerNames(viaCNI.Spec.InitContainers), []string{contract.RedirectCheckContainerName, contract.ProxyContainerName, "migrate"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("CNI mode init containers %v, want %v", got, want)
	}
	initArgs := viaInit.Spec.InitContainers[0].Args
	if got := viaCNI.Annotations[contract.CNIRedirectAnnotation]; got != strings.Join(initArgs, " ") {
		t.Fatalf("annotation %q, want proxy-init's args %q", got, initArgs)
	}
	fromInit, err := netinit.ParseFlags(initArgs, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	fromCNI, err := netinit.ParseFlags(strings.Fields(viaCNI.Annotations[contract.CNIRedirectAnnotation]), io.Discard)
	if err != nil || !reflect.DeepEqual(netinit.Plan(fromCNI), netinit.Plan(fromInit)) {
		t.Fatalf("the CNI plan differs from proxy-init's: %+v vs %+v (%v)", fromCNI, fromInit, err)
	}
	if fromCNI.ProxyUID != contract.ProxyUID || !reflect.DeepEqual(fromCNI.SkipInboundPorts, []uint16{8081, 9090}) || !reflect.DeepEqual(fromCNI.SkipOutboundPorts, []uint16{5432}) {
		t.Fatalf("plan inputs %+v", fromCNI)
	}
	check := viaCNI.Spec.InitContainers[0]
	if got, want := check.Args, append([]string{"check"}, initArgs...); !reflect.DeepEqual(got, want) || check.Image != testConfig().ProxyInitImage {
		t.Fatalf("check container %s %v, want proxy-init image with %v", check.Image, got, want)
	}
	if *check.SecurityContext.RunAsUser == contract.ProxyUID {
		t.Fatal("the check runs as the proxy's user, whose traffic is never redirected")
	}
	// InitContainer mode drops the pod's own value too: the plugin must not
	// act on a pod proxy-init already handles.
	if v, ok := viaInit.Annotations[contract.CNIRedirectAnnotation]; ok {
		t.Fatalf("InitContainer mode kept %s=%q", contract.CNIRedirectAnnotation, v)
	}
}

// restrictedApp is an app pod that itself meets Pod Security "restricted".
func restrictedApp() *corev1.Pod {
	pod := testPod(nil)
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			cs[i].SecurityContext = &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			}
		}
	}
	return pod
}

// The Pod Security admission library's own checks judge the injected pod:
// in CNI mode it passes "restricted"; in InitContainer mode it fails even
// "baseline" (proxy-init's NET_ADMIN and NET_RAW), as measured on clusters.
func TestInjectedPodSecurity(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	evaluate := func(pod *corev1.Pod, level psaapi.Level) policy.AggregateCheckResult {
		return policy.AggregateCheckResults(evaluator.EvaluatePod(psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()}, &pod.ObjectMeta, &pod.Spec))
	}
	ns := testNamespace("shop", map[string]string{contract.InjectKey: contract.InjectEnabled}, nil)
	if r := evaluate(restrictedApp(), psaapi.LevelRestricted); !r.Allowed {
		t.Fatalf("the app alone fails restricted: %v %v", r.ForbiddenReasons, r.ForbiddenDetails)
	}
	for _, mode := range []string{contract.RedirectCNI} {
		cfg := testConfig()
		cfg.Redirect = mode
		for _, annotations := range []map[string]string{nil, {contract.MTLSModeKey: contract.MTLSStrict, contract.SkipInboundPortsAnnotation: "22"}} {
			app := restrictedApp()
			app.Annotations = annotations
			pod, _ := Mutate(app, ns, cfg)
			if r := evaluate(pod, psaapi.LevelRestricted); !r.Allowed {
				t.Errorf("%s mode, annotations %v: restricted refuses the injected pod: %v %v", mode, annotations, r.ForbiddenReasons, r.ForbiddenDetails)
			}
		}
	}
	for _, mode := range []string{"", contract.RedirectInitContainer} {
		cfg := testConfig()
		cfg.Redirect = mode
		pod, _ := Mutate(restrictedApp(), ns, cfg)
		r := evaluate(pod, psaapi.LevelBaseline)
		if r.Allowed || !strings.Contains(strings.Join(r.ForbiddenDetails, " "), "NET_ADMIN") {
			t.Errorf("mode %q: baseline %v %v, want a refusal of proxy-init's NET_ADMIN", mode, r.Allowed, r.ForbiddenDetails)
		}
	}
}

// TestMutateCNIGolden pins the whole pod injected in CNI mode; run with
// -update to accept changes.
func TestMutateCNIGolden(t *testing.T) {
	pod := testPod(map[string]string{contract.SkipInboundPortsAnnotation: "9090", contract.SkipOutboundPortsAnnotation: "5432"})
	got, _ := Mutate(pod, testNamespace("shop", map[string]string{contract.InjectKey: contract.InjectEnabled}, nil), cniConfig())
	compareGolden(t, got, "cni-mode.yaml")
}
