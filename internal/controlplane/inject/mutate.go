package inject

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

const (
	// AdminPortName names the proxy's admin port on the sidecar.
	AdminPortName = "mk-admin"

	trustRootsVolume = "meshkeeper-trust-roots"
	tokenVolume      = "meshkeeper-token"
	// tokenExpirationSeconds is how long a projected token lives; the kubelet
	// refreshes it at 80% of that.
	tokenExpirationSeconds = 3600

	// startupFailureThreshold × period bounds how long the app waits for its proxy.
	startupPeriodSeconds    = 1
	startupFailureThreshold = 120
)

// Prometheus discovery annotations point scrapers at the proxy. They are set
// as a group, and only when the pod has none of them: mixing the app's port
// with the proxy's path would scrape neither.
var scrapeAnnotations = [][2]string{
	{"prometheus.io/scrape", "true"},
	{"prometheus.io/port", strconv.Itoa(contract.ProxyAdminPort)},
	{"prometheus.io/path", contract.MetricsPath},
}

// Mutate returns a copy of pod (created in namespace ns) with the proxy init
// container, the native proxy sidecar, their volumes and the mesh metadata
// added, plus warnings about ignored annotation values.
func Mutate(pod *corev1.Pod, ns *corev1.Namespace, cfg Config) (*corev1.Pod, []string) {
	out := pod.DeepCopy()
	var warnings []string
	skipIn, badIn := ParsePortList(pod.Annotations[contract.SkipInboundPortsAnnotation])
	skipOut, badOut := ParsePortList(pod.Annotations[contract.SkipOutboundPortsAnnotation])
	if len(badIn)+len(badOut) > 0 {
		warnings = append(warnings, fmt.Sprintf("meshkeeper: ignored invalid skip ports %v", append(badIn, badOut...)))
	}
	mode := contract.ResolveMTLSMode(pod.Annotations, ns.Annotations, cfg.DefaultMTLSMode)

	proxy := proxyContainer(cfg, mode, skipIn)
	if v, ok := pod.Annotations[contract.ProxyCoresAnnotation]; ok {
		if _, err := contract.ParseProxyCores(v); err != nil {
			warnings = append(warnings, fmt.Sprintf("meshkeeper: ignored %s %v", contract.ProxyCoresAnnotation, err))
		} else {
			proxy.Env = setEnv(proxy.Env, corev1.EnvVar{Name: contract.EnvProxyCores, Value: strings.TrimSpace(v)})
		}
	}
	for _, l := range contract.ProxyLimitSettings {
		v, ok := pod.Annotations[l.Annotation]
		if !ok {
			continue
		}
		var check contract.ProxyLimits
		if err := l.Set(&check, v); err != nil {
			warnings = append(warnings, fmt.Sprintf("meshkeeper: ignored %s %v", l.Annotation, err))
			continue
		}
		proxy.Env = setEnv(proxy.Env, corev1.EnvVar{Name: l.Env, Value: strings.TrimSpace(v)})
	}
	env, warning := opaquePortsEnv(pod.Annotations, ns.Annotations)
	if warning != "" {
		warnings = append(warnings, warning)
	}
	if env != nil {
		proxy.Env = setEnv(proxy.Env, *env)
	}
	if mode == contract.MTLSStrict {
		if env, ok := appProbesEnv(rewriteProbes(out.Spec.Containers)); ok {
			proxy.Env = append(proxy.Env, env)
		}
	}
	redirect := redirectArgs(skipIn, skipOut)
	first := initContainer(cfg, redirect)
	if cfg.Redirect == contract.RedirectCNI {
		first = checkContainer(cfg, redirect)
	}
	out.Spec.InitContainers = append([]corev1.Container{first, proxy}, out.Spec.InitContainers...)
	out.Spec.Volumes = append(out.Spec.Volumes, meshVolumes()...)
	// A projected token needs a named ServiceAccount. The ServiceAccount
	// admission plugin normally set "default" before webhooks run; without it
	// the API server would reject the injected pod.
	if out.Spec.ServiceAccountName == "" {
		out.Spec.ServiceAccountName = "default"
	}

	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	out.Labels[contract.ProxyVersionLabel] = cfg.ProxyVersion
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[contract.InjectedAnnotation] = "true"
	// The injector owns the CNI plugin's input: a value the pod brought is
	// dropped, and only CNI mode writes it (proxy-init's own command line).
	delete(out.Annotations, contract.CNIRedirectAnnotation)
	if cfg.Redirect == contract.RedirectCNI {
		out.Annotations[contract.CNIRedirectAnnotation] = strings.Join(redirect, " ")
	}
	if !hasAnyAnnotation(out.Annotations, scrapeAnnotations) {
		for _, kv := range scrapeAnnotations {
			out.Annotations[kv[0]] = kv[1]
		}
	}
	return out, warnings
}

// opaquePortsEnv passes the pod's (else its namespace's) opaque ports to
// the proxy, which otherwise applies contract.DefaultOpaquePorts. An invalid
// pod value is ignored with a warning.
func opaquePortsEnv(podAnnotations, nsAnnotations map[string]string) (*corev1.EnvVar, string) {
	warning := ""
	if v, ok := podAnnotations[contract.OpaquePortsAnnotation]; ok {
		if _, err := contract.ParsePortRanges(v); err != nil {
			warning = fmt.Sprintf("meshkeeper: ignored %s: %v", contract.OpaquePortsAnnotation, err)
		}
	}
	_, onPod := podAnnotations[contract.OpaquePortsAnnotation]
	_, onNS := nsAnnotations[contract.OpaquePortsAnnotation]
	if !onPod && !onNS {
		return nil, warning
	}
	ports := contract.OpaquePortsEnv(contract.ResolveOpaquePorts(podAnnotations, nsAnnotations))
	return &corev1.EnvVar{Name: contract.EnvOpaquePorts, Value: ports}, warning
}

func hasAnyAnnotation(annotations map[string]string, keys [][2]string) bool {
	for _, kv := range keys {
		if _, set := annotations[kv[0]]; set {
			return true
		}
	}
	return false
}

// redirectArgs is proxy-init's command line for the pod: the init
// container's args, or the CNI plugin's annotation.
func redirectArgs(skipIn, skipOut string) []string {
	args := []string{
		"--proxy-uid=" + strconv.Itoa(contract.ProxyUID),
		"--inbound-port=" + strconv.Itoa(contract.ProxyInboundPort),
		"--outbound-port=" + strconv.Itoa(contract.ProxyOutboundPort),
		"--admin-port=" + strconv.Itoa(contract.ProxyAdminPort),
	}
	// Empty lists are omitted rather than passed as "--flag=".
	if skipIn != "" {
		args = append(args, "--skip-inbound-ports="+skipIn)
	}
	if skipOut != "" {
		args = append(args, "--skip-outbound-ports="+skipOut)
	}
	return args
}

func initContainer(cfg Config, redirect []string) corev1.Container {
	return corev1.Container{
		Name:            contract.ProxyInitContainerName,
		Image:           cfg.ProxyInitImage,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args:            redirect,
		Resources:       cfg.ProxyResources,
		SecurityContext: &corev1.SecurityContext{
			// Writing iptables rules needs root with exactly these two capabilities.
			RunAsUser:                ptr.To[int64](0),
			RunAsNonRoot:             ptr.To(false),
			Privileged:               ptr.To(false),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities: &corev1.Capabilities{
				Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW"},
				Drop: []corev1.Capability{"ALL"},
			},
		},
	}
}

// checkContainer is CNI mode's first container: proxy-init's check, as an
// unprivileged user other than the proxy's, fails the pod (before the proxy
// and the app start) when the node's CNI plugin did not install the rules.
// The proxy cannot check this itself: its own traffic is never redirected.
func checkContainer(cfg Config, redirect []string) corev1.Container {
	return corev1.Container{
		Name:            contract.RedirectCheckContainerName,
		Image:           cfg.ProxyInitImage,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args:            append([]string{"check"}, redirect...),
		Resources:       cfg.ProxyResources,
		// The check's reason is its last log line; show it in the pod's status.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          restricted(contract.RedirectCheckUID),
	}
}

// restricted is the security context of the containers the injector adds
// without privilege: what Pod Security "restricted" asks, run as uid.
func restricted(uid int64) *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsUser:                ptr.To(uid),
		RunAsGroup:               ptr.To(uid),
		RunAsNonRoot:             ptr.To(true),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Privileged:               ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func proxyContainer(cfg Config, mode, skipIn string) corev1.Container {
	adminProbe := func(path string) corev1.ProbeHandler {
		return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromInt32(contract.ProxyAdminPort), Scheme: corev1.URISchemeHTTP,
		}}
	}
	return corev1.Container{
		Name:            contract.ProxyContainerName,
		Image:           cfg.ProxyImage,
		ImagePullPolicy: corev1.PullIfNotPresent,
		// An init container that always restarts is a native sidecar: it starts
		// before the app and stops after it.
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Env:           proxyEnv(cfg, mode, skipIn),
		Ports: []corev1.ContainerPort{{
			Name: AdminPortName, ContainerPort: contract.ProxyAdminPort, Protocol: corev1.ProtocolTCP,
		}},
		// The kubelet starts the next container only once the startup probe passed,
		// so the app never runs without a ready proxy.
		StartupProbe: &corev1.Probe{
			ProbeHandler:  adminProbe(contract.ReadyPath),
			PeriodSeconds: startupPeriodSeconds, FailureThreshold: startupFailureThreshold, TimeoutSeconds: 1,
		},
		ReadinessProbe:  &corev1.Probe{ProbeHandler: adminProbe(contract.ReadyPath), PeriodSeconds: 5, TimeoutSeconds: 1},
		LivenessProbe:   &corev1.Probe{ProbeHandler: adminProbe(contract.LivePath), PeriodSeconds: 10, TimeoutSeconds: 1, FailureThreshold: 3},
		Resources:       cfg.ProxyResources,
		SecurityContext: restricted(contract.ProxyUID),
		VolumeMounts: []corev1.VolumeMount{
			{Name: trustRootsVolume, MountPath: contract.TrustRootsMountDir, ReadOnly: true},
			{Name: tokenVolume, MountPath: contract.TokenMountDir, ReadOnly: true},
		},
	}
}

func proxyEnv(cfg Config, mode, skipIn string) []corev1.EnvVar {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	env := []corev1.EnvVar{
		{Name: contract.EnvIdentityAddr, Value: cfg.IdentityAddr},
		{Name: contract.EnvDiscoveryAddr, Value: cfg.DiscoveryAddr},
		{Name: contract.EnvTrustDomain, Value: cfg.TrustDomain},
		{Name: contract.EnvTrustRootsPath, Value: contract.TrustRootsMountDir + "/" + contract.TrustRootsKey},
		{Name: contract.EnvTokenPath, Value: contract.TokenMountDir + "/" + contract.TokenFile},
		field(contract.EnvPodName, "metadata.name"),
		field(contract.EnvPodNamespace, "metadata.namespace"),
		field(contract.EnvPodIP, "status.podIP"),
		field(contract.EnvServiceAccount, "spec.serviceAccountName"),
		{Name: contract.EnvMTLSMode, Value: mode},
		{Name: contract.EnvLogLevel, Value: cfg.ProxyLogLevel},
		{Name: contract.EnvSkipInboundPorts, Value: skipIn},
		{Name: contract.EnvFaultFailureRate, Value: "0"},
	}
	for _, extra := range cfg.ProxyEnv {
		env = setEnv(env, extra)
	}
	return env
}

// setEnv replaces the variable of v's name, or appends v.
func setEnv(env []corev1.EnvVar, v corev1.EnvVar) []corev1.EnvVar {
	for i := range env {
		if env[i].Name == v.Name {
			env[i] = v
			return env
		}
	}
	return append(env, v)
}

func meshVolumes() []corev1.Volume {
	return []corev1.Volume{
		{
			// The operator copies this ConfigMap into every namespace.
			Name: trustRootsVolume,
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: contract.TrustRootsConfigMap},
			}},
		},
		{
			Name: tokenVolume,
			VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Audience:          contract.IdentityTokenAudience,
					ExpirationSeconds: ptr.To[int64](tokenExpirationSeconds),
					Path:              contract.TokenFile,
				}}},
			}},
		},
	}
}
