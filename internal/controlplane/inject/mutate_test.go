package inject

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testConfig() Config {
	return Config{
		ControlPlaneNamespace: cpNamespace,
		ProxyImage:            "ghcr.io/meshkeeper/proxy:0.1.0",
		ProxyInitImage:        "ghcr.io/meshkeeper/proxy-init:0.1.0",
		ProxyVersion:          "0.1.0",
		TrustDomain:           "cluster.local",
		DefaultMTLSMode:       contract.MTLSPermissive,
		IdentityAddr:          "meshkeeper-identity.meshkeeper-system.svc:8080",
		DiscoveryAddr:         "meshkeeper-discovery.meshkeeper-system.svc:8086",
		ProxyLogLevel:         "info",
		ProxyEnv:              []corev1.EnvVar{{Name: contract.EnvFaultFailureRate, Value: "0.5"}, {Name: "EXTRA", Value: "1"}},
		ProxyResources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("20Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
		},
	}
}

// TestMutateGolden pins the whole injected pod; run with -update to accept changes.
func TestMutateGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		pod    *corev1.Pod
		ns     *corev1.Namespace
	}{
		{"namespace-opt-in.yaml", testPod(nil), testNamespace("shop", map[string]string{contract.InjectKey: contract.InjectEnabled}, nil)},
		{"pod-opt-in-strict-skip-ports.yaml", testPod(map[string]string{
			contract.InjectKey:                   contract.InjectEnabled,
			contract.MTLSModeKey:                 contract.MTLSStrict,
			contract.SkipInboundPortsAnnotation:  "9090, 8081",
			contract.SkipOutboundPortsAnnotation: "5432",
			"prometheus.io/port":                 "8080",
		}), testNamespace("shop", nil, map[string]string{contract.MTLSModeKey: contract.MTLSPermissive})},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			got, warnings := Mutate(tc.pod, tc.ns, testConfig())
			if len(warnings) != 0 {
				t.Fatalf("warnings: %v", warnings)
			}
			compareGolden(t, got, tc.golden)
		})
	}
}

func TestMutateInvariants(t *testing.T) {
	pod := testPod(map[string]string{contract.SkipInboundPortsAnnotation: "bad,22"})
	ns := testNamespace("shop", nil, map[string]string{contract.MTLSModeKey: contract.MTLSStrict})
	orig := pod.DeepCopy()
	got, warnings := Mutate(pod, ns, testConfig())

	if len(warnings) != 1 {
		t.Fatalf("want one warning about the bad port, got %v", warnings)
	}
	b1, _ := json.Marshal(orig)
	b2, _ := json.Marshal(pod)
	if string(b1) != string(b2) {
		t.Fatal("Mutate changed its input")
	}
	names := func(cs []corev1.Container) (out []string) {
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	if n := names(got.Spec.InitContainers); !slices.Equal(n, []string{contract.ProxyInitContainerName, contract.ProxyContainerName, "migrate"}) {
		t.Fatalf("init containers order = %v", n)
	}
	for _, c := range append(got.Spec.InitContainers, got.Spec.Containers...) {
		hasAdd := c.SecurityContext != nil && c.SecurityContext.Capabilities != nil && len(c.SecurityContext.Capabilities.Add) > 0
		if hasAdd != (c.Name == contract.ProxyInitContainerName) {
			t.Errorf("container %s: added capabilities = %v; only %s may add any", c.Name, hasAdd, contract.ProxyInitContainerName)
		}
	}
	proxy := got.Spec.InitContainers[1]
	if proxy.RestartPolicy == nil || *proxy.RestartPolicy != corev1.ContainerRestartPolicyAlways || proxy.StartupProbe == nil {
		t.Fatal("proxy must be a native sidecar with a startup probe")
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range proxy.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("duplicate env %s", e.Name)
		}
		env[e.Name] = e
	}
	for _, name := range []string{contract.EnvIdentityAddr, contract.EnvDiscoveryAddr, contract.EnvTrustDomain,
		contract.EnvTrustRootsPath, contract.EnvTokenPath, contract.EnvPodName, contract.EnvPodNamespace,
		contract.EnvPodIP, contract.EnvServiceAccount, contract.EnvMTLSMode, contract.EnvLogLevel,
		contract.EnvSkipInboundPorts, contract.EnvFaultFailureRate} {
		if _, ok := env[name]; !ok {
			t.Errorf("env %s missing", name)
		}
	}
	if env[contract.EnvMTLSMode].Value != contract.MTLSStrict || env[contract.EnvSkipInboundPorts].Value != "22" ||
		env[contract.EnvFaultFailureRate].Value != "0.5" || env["EXTRA"].Value != "1" {
		t.Errorf("env values: mode=%q skip=%q fault=%q extra=%q", env[contract.EnvMTLSMode].Value,
			env[contract.EnvSkipInboundPorts].Value, env[contract.EnvFaultFailureRate].Value, env["EXTRA"].Value)
	}
	if got.Labels[contract.ProxyVersionLabel] != "0.1.0" || got.Annotations[contract.InjectedAnnotation] != "true" ||
		got.Annotations["prometheus.io/port"] != "4191" {
		t.Errorf("metadata: labels %v annotations %v", got.Labels, got.Annotations)
	}
	if ok, reason := ShouldInject(got, ns, cpNamespace, nil); ok {
		t.Fatalf("mutated pod would be injected again (%s)", reason)
	}
}

func TestMutateNamesDefaultServiceAccount(t *testing.T) {
	pod := testPod(nil)
	pod.Spec.ServiceAccountName = ""
	got, _ := Mutate(pod, testNamespace("shop", nil, nil), testConfig())
	if got.Spec.ServiceAccountName != "default" {
		t.Fatalf("serviceAccountName = %q; the projected token needs one", got.Spec.ServiceAccountName)
	}
}

// The proxy-cores annotation sets the proxy's cores over the mesh-wide value;
// an invalid one is reported and changes nothing.
func TestMutateProxyCores(t *testing.T) {
	cfg := testConfig()
	cfg.ProxyEnv = append(cfg.ProxyEnv, corev1.EnvVar{Name: contract.EnvProxyCores, Value: "2"})
	cores := func(p *corev1.Pod) []string {
		var out []string
		for _, c := range p.Spec.InitContainers {
			for _, e := range c.Env {
				if e.Name == contract.EnvProxyCores {
					out = append(out, c.Name+"="+e.Value)
				}
			}
		}
		return out
	}
	for _, c := range []struct {
		annotation   string
		want         string
		wantWarnings int
	}{
		{"", contract.ProxyContainerName + "=2", 0},
		{" 4", contract.ProxyContainerName + "=4", 0},
		{"0", contract.ProxyContainerName + "=2", 1},
		{"lots", contract.ProxyContainerName + "=2", 1},
	} {
		annotations := map[string]string{}
		if c.annotation != "" {
			annotations[contract.ProxyCoresAnnotation] = c.annotation
		}
		got, warnings := Mutate(testPod(annotations), testNamespace("shop", nil, nil), cfg)
		if env := cores(got); !slices.Equal(env, []string{c.want}) || len(warnings) != c.wantWarnings {
			t.Errorf("annotation %q: proxy env %v, warnings %v; want [%s] and %d warning(s)", c.annotation, env, warnings, c.want, c.wantWarnings)
		}
	}
}

func TestMutateProxyLimits(t *testing.T) {
	cfg := testConfig()
	cfg.ProxyEnv = append(cfg.ProxyEnv, corev1.EnvVar{Name: contract.EnvProxyMaxConnections, Value: "3000"})
	envOf := func(p *corev1.Pod, name string) []string {
		var out []string
		for _, c := range p.Spec.InitContainers {
			for _, e := range c.Env {
				if e.Name == name {
					out = append(out, c.Name+"="+e.Value)
				}
			}
		}
		return out
	}
	proxy := contract.ProxyContainerName + "="
	for _, c := range []struct {
		annotation, value string
		env, want         string
		wantWarnings      int
	}{
		{"", "", contract.EnvProxyMaxConnections, proxy + "3000", 0},
		{contract.ProxyMaxConnectionsAnnotation, " 500", contract.EnvProxyMaxConnections, proxy + "500", 0},
		{contract.ProxyMaxConnectionsAnnotation, "0", contract.EnvProxyMaxConnections, proxy + "3000", 1},
		{contract.ProxyHeaderTimeoutAnnotation, "3s", contract.EnvProxyHeaderTimeout, proxy + "3s", 0},
		{contract.ProxyHeaderTimeoutAnnotation, "3", contract.EnvProxyHeaderTimeout, "", 1},
		{contract.ProxyIdleTimeoutAnnotation, "2m", contract.EnvProxyIdleTimeout, proxy + "2m", 0},
		{contract.ProxyTCPIdleTimeoutAnnotation, "never", contract.EnvProxyTCPIdleTimeout, "", 1},
		{contract.ProxyMaxHeaderBytesAnnotation, "65536", contract.EnvProxyMaxHeaderBytes, proxy + "65536", 0},
	} {
		annotations := map[string]string{}
		if c.annotation != "" {
			annotations[c.annotation] = c.value
		}
		got, warnings := Mutate(testPod(annotations), testNamespace("shop", nil, nil), cfg)
		var want []string
		if c.want != "" {
			want = []string{c.want}
		}
		if env := envOf(got, c.env); !slices.Equal(env, want) || len(warnings) != c.wantWarnings {
			t.Errorf("%s=%q: %s %v, warnings %v; want %v and %d warning(s)", c.annotation, c.value, c.env, env, warnings, want, c.wantWarnings)
		}
	}
}

// The opaque-ports annotation of the pod, else of its namespace, reaches the
// proxy; an invalid pod value is reported and the namespace's applies.
func TestMutateOpaquePorts(t *testing.T) {
	envOf := func(p *corev1.Pod) []string {
		var out []string
		for _, c := range p.Spec.InitContainers {
			for _, e := range c.Env {
				if e.Name == contract.EnvOpaquePorts {
					out = append(out, c.Name+"="+e.Value)
				}
			}
		}
		return out
	}
	a := func(v string) map[string]string { return map[string]string{contract.OpaquePortsAnnotation: v} }
	for _, c := range []struct {
		name         string
		pod, ns      map[string]string
		want         []string
		wantWarnings int
	}{
		{"none: the proxy's default", nil, nil, nil, 0},
		{"pod", a("3306, 5000-5010"), nil, []string{contract.ProxyContainerName + "=3306,5000-5010"}, 0},
		{"namespace", nil, a("7000"), []string{contract.ProxyContainerName + "=7000"}, 0},
		{"pod over namespace", a("25"), a("7000"), []string{contract.ProxyContainerName + "=25"}, 0},
		{"invalid pod value: namespace's", a("5010-5000"), a("7000"), []string{contract.ProxyContainerName + "=7000"}, 1},
		{"invalid pod value alone: default", a("x"), nil, []string{contract.ProxyContainerName + "=" + contract.DefaultOpaquePorts}, 1},
		{"empty: nothing opaque", a(""), nil, []string{contract.ProxyContainerName + "=" + contract.NoOpaquePorts}, 0},
	} {
		annotations := map[string]string{}
		for k, v := range c.pod {
			annotations[k] = v
		}
		got, warnings := Mutate(testPod(annotations), testNamespace("shop", nil, c.ns), testConfig())
		if env := envOf(got); !slices.Equal(env, c.want) || len(warnings) != c.wantWarnings {
			t.Errorf("%s: proxy env %v, warnings %v; want %v and %d warning(s)", c.name, env, warnings, c.want, c.wantWarnings)
		}
	}
}

// compareGolden compares the mutated pod's YAML with testdata/<name>
// (rewritten with -update).
func compareGolden(t *testing.T, got any, name string) {
	t.Helper()
	out, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(out) {
		t.Fatalf("mutated pod differs from %s (run with -update):\n%s", path, out)
	}
}
