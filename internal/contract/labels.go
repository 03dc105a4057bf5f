package contract

const (
	// InjectKey opts a namespace (label) or a pod (annotation) into proxy injection.
	// Value InjectEnabled or InjectDisabled; a pod annotation overrides its namespace.
	InjectKey      = "meshkeeper.io/inject"
	InjectEnabled  = "enabled"
	InjectDisabled = "disabled"

	// MTLSModeKey sets the inbound mTLS mode on a namespace or pod (annotation).
	MTLSModeKey = "meshkeeper.io/mtls-mode"
	// MTLSPermissive accepts plaintext from non-meshed clients; MTLSStrict refuses it.
	MTLSPermissive = "permissive"
	MTLSStrict     = "strict"

	// ProxyVersionLabel is stamped by the injector on every injected pod.
	ProxyVersionLabel = "meshkeeper.io/proxy-version"
	// InjectedAnnotation records that a pod was mutated, so injection is idempotent.
	InjectedAnnotation = "meshkeeper.io/injected"

	// SkipInboundPortsAnnotation and SkipOutboundPortsAnnotation list comma-separated
	// TCP ports that bypass the proxy.
	SkipInboundPortsAnnotation  = "meshkeeper.io/skip-inbound-ports"
	SkipOutboundPortsAnnotation = "meshkeeper.io/skip-outbound-ports"

	// CNIRedirectAnnotation is written by the injector on a pod meshed in CNI
	// mode (no proxy-init container). Its value is proxy-init's command line,
	// space-separated; the node's CNI plugin (cmd/meshkeeper-cni) parses it
	// with proxy-init's own parser and installs the same plan. A pod without
	// it is not meshed, and the plugin leaves it alone.
	CNIRedirectAnnotation = "meshkeeper.io/cni-redirect"

	// ProxyCoresAnnotation sets a pod's proxy cores (EnvProxyCores), 1 to MaxProxyCores.
	ProxyCoresAnnotation = "meshkeeper.io/proxy-cores"

	// RotationExcludeAnnotation ("true") on a meshed pod tells trust rotations
	// and upgrade gates not to wait for its proxy: for a pod that cannot be
	// restarted (a bare pod, a Job's pod, an OnDelete StatefulSet's) or whose
	// admin port cannot be read. The pod keeps the trust it had; once the old
	// anchor is retired it cannot talk to the mesh until it is replaced.
	RotationExcludeAnnotation = "meshkeeper.io/rotation-exclude"

	// RestartedAtAnnotation is written by the operator on workload pod templates to
	// roll pods (upgrades, trust rotation); its value is an RFC 3339 time.
	RestartedAtAnnotation = "meshkeeper.io/restarted-at"

	// InstallationLabel ties every object the operator renders or creates to the
	// MeshInstallation that owns it; its value is the installation's name.
	InstallationLabel = "mesh.meshkeeper.io/installation"
	// ComponentLabel names the control-plane component of a rendered object.
	ComponentLabel = "mesh.meshkeeper.io/component"
)

// The CNI plugin's node agent (spec.dataPlane.redirect CNI): a DaemonSet in the
// control-plane namespace, rendered by the chart of a release that ships the
// plugin. The operator reads its per-node readiness by these names.
const (
	CNIDaemonSetName = "meshkeeper-cni"
	// CNIComponent is the ComponentLabel value of the DaemonSet and its pods.
	CNIComponent = "cni"
)
