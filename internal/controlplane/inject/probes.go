package inject

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// rewriteProbes points the HTTP probes of app containers at the proxy's admin
// port and returns the originals, keyed by their new admin path, for the
// proxy to perform. Only strict pods need it: their proxy refuses the
// kubelet's plaintext probes on app ports.
func rewriteProbes(containers []corev1.Container) map[string]contract.AppProbe {
	probes := map[string]contract.AppProbe{}
	for i := range containers {
		c := &containers[i]
		for kind, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
			if p == nil || p.HTTPGet == nil {
				continue
			}
			port, ok := resolvePort(c, p.HTTPGet.Port)
			if !ok {
				continue
			}
			path := contract.AppProbePathPrefix + c.Name + "/" + kind
			probes[path] = contract.AppProbe{Port: port, Path: p.HTTPGet.Path, Scheme: string(p.HTTPGet.Scheme)}
			p.HTTPGet.Port = intstr.FromInt32(int32(contract.ProxyAdminPort))
			p.HTTPGet.Path = path
			p.HTTPGet.Scheme = corev1.URISchemeHTTP
		}
	}
	return probes
}

func resolvePort(c *corev1.Container, port intstr.IntOrString) (int32, bool) {
	if port.Type == intstr.Int {
		return port.IntVal, port.IntVal > 0
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

func appProbesEnv(probes map[string]contract.AppProbe) (corev1.EnvVar, bool) {
	if len(probes) == 0 {
		return corev1.EnvVar{}, false
	}
	raw, _ := json.Marshal(probes) // map keys marshal sorted: stable patches
	return corev1.EnvVar{Name: contract.EnvAppProbes, Value: string(raw)}, true
}
