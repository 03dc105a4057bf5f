package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MeshInstallationSpec is the mesh a cluster admin wants.
type MeshInstallationSpec struct {
	// Version is the mesh release to run. It must be one this operator ships;
	// status.supportedVersions lists them.
	// +kubebuilder:validation:Pattern=`^[0-9]+\.[0-9]+\.[0-9]+$`
	Version string `json:"version"`

	// ControlPlane configures the mesh control plane.
	// +kubebuilder:default={namespace: "meshkeeper-system", replicas: 1}
	// +optional
	ControlPlane ControlPlaneSpec `json:"controlPlane,omitempty"`

	// Trust configures the mesh's trust anchor and identity issuer.
	// +kubebuilder:default={trustDomain: "cluster.local"}
	// +optional
	Trust TrustSpec `json:"trust,omitempty"`

	// DataPlane configures which namespaces are meshed and how.
	// +kubebuilder:default={mtlsMode: "permissive"}
	// +optional
	DataPlane DataPlaneSpec `json:"dataPlane,omitempty"`

	// Upgrade configures how a change of version is rolled out.
	// +optional
	Upgrade *UpgradeSpec `json:"upgrade,omitempty"`

	// Paused stops all reconciliation of this installation until set back to false.
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// ControlPlaneSpec configures the control plane.
type ControlPlaneSpec struct {
	// Namespace the control plane is installed in. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="controlPlane.namespace is immutable"
	// +kubebuilder:default=meshkeeper-system
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Replicas of each control-plane Deployment.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Resources of each control-plane container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Values are free-form Helm value overrides merged over the values the
	// operator derives from this spec (the operator's own keys win).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Values *apiextensionsv1.JSON `json:"values,omitempty"`
}

// TrustSpec configures the mesh's PKI.
type TrustSpec struct {
	// TrustDomain of the workload identities (spiffe://<trustDomain>/ns/<ns>/sa/<sa>). Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="trust.trustDomain is immutable"
	// +kubebuilder:default=cluster.local
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	TrustDomain string `json:"trustDomain,omitempty"`

	// Anchor is the lifetime of the self-signed trust anchor the operator generates.
	// +kubebuilder:default={validity: "8760h", renewBefore: "720h"}
	// +optional
	Anchor *CertificateLifetime `json:"anchor,omitempty"`

	// Issuer is the lifetime of the intermediate issuer that signs workload certificates.
	// +kubebuilder:default={validity: "720h", renewBefore: "168h"}
	// +optional
	Issuer *CertificateLifetime `json:"issuer,omitempty"`

	// AnchorSecretRef names a Secret (keys tls.crt and tls.key) holding a
	// user-provided trust anchor to use instead of a generated one. The Secret
	// must be in the control-plane namespace.
	// +optional
	AnchorSecretRef *SecretReference `json:"anchorSecretRef,omitempty"`

	// Rotation tunes anchor rotations.
	// +optional
	Rotation *RotationSpec `json:"rotation,omitempty"`
}

// CertificateLifetime bounds a certificate's life and when it is renewed.
// +kubebuilder:validation:XValidation:rule="duration(self.renewBefore) < duration(self.validity)",message="renewBefore must be shorter than validity"
// +kubebuilder:validation:XValidation:rule="duration(self.validity) >= duration('1m')",message="validity must be at least 1m"
type CertificateLifetime struct {
	// Validity is the certificate's lifetime, e.g. "8760h".
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(h|m|s))+$`
	Validity metav1.Duration `json:"validity"`
	// RenewBefore is how long before expiry the certificate is replaced, e.g. "720h".
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(h|m|s))+$`
	RenewBefore metav1.Duration `json:"renewBefore"`
}

// SecretReference names a Secret in the control-plane namespace.
type SecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// MTLSMode is how a meshed workload treats plaintext from non-meshed clients.
// +kubebuilder:validation:Enum=permissive;strict
type MTLSMode string

const (
	MTLSPermissive MTLSMode = "permissive"
	MTLSStrict     MTLSMode = "strict"
)

// DataPlaneSpec configures the data plane.
type DataPlaneSpec struct {
	// NamespaceSelector meshes the namespaces it matches like those labelled
	// meshkeeper.io/inject=enabled: their new pods get the proxy unless a pod
	// is annotated meshkeeper.io/inject=disabled. A namespace labelled
	// meshkeeper.io/inject=disabled is never meshed; kube-system and the
	// control-plane namespace never are. An empty selector ({}) matches every
	// namespace. Pods that already run are not restarted by a change here.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// MTLSMode is the default inbound mTLS mode; a namespace or pod annotation
	// meshkeeper.io/mtls-mode overrides it.
	// +kubebuilder:default=permissive
	// +optional
	MTLSMode MTLSMode `json:"mtlsMode,omitempty"`

	// UnmeshedPods is what the operator does about a pod that should carry the
	// proxy and does not (admitted while the injector was down or failing open,
	// or created before its namespace was meshed). Restart rolls the owning
	// Deployment, StatefulSet or DaemonSet once the injector answers again, at
	// most once per workload every few minutes and only when its
	// PodDisruptionBudgets allow; Report only reports. Bare pods are only ever
	// reported, and a pod annotated meshkeeper.io/inject=disabled is never touched.
	// +kubebuilder:default=Restart
	// +optional
	UnmeshedPods UnmeshedPodsPolicy `json:"unmeshedPods,omitempty"`

	// Redirect is how meshed pods' traffic is sent through their proxy.
	// InitContainer adds proxy-init, a root init container with NET_ADMIN and
	// NET_RAW, so meshed namespaces must allow Pod Security "privileged". CNI
	// leaves it to a chained CNI plugin on each node and adds no privileged
	// container, so meshed pods can pass "restricted". Every shipped mesh
	// version runs the plugin as a DaemonSet in the control-plane namespace
	// (the node's CNI directories: controlPlane.values cni.binDir and
	// cni.confDir); a version without it stalls the installation
	// (InvalidValues). A change is rolled out like a version change
	// (spec.upgrade): the control plane first, then the meshed workloads in
	// waves with the same gates.
	// +kubebuilder:default=InitContainer
	// +optional
	Redirect RedirectMode `json:"redirect,omitempty"`
}

// RedirectMode is how meshed pods' redirect rules are installed.
// +kubebuilder:validation:Enum=InitContainer;CNI
type RedirectMode string

const (
	RedirectInitContainer RedirectMode = "InitContainer"
	RedirectCNI           RedirectMode = "CNI"
)

// UnmeshedPodsPolicy is what the operator does about unmeshed pods.
// +kubebuilder:validation:Enum=Restart;Report
type UnmeshedPodsPolicy string

const (
	UnmeshedPodsRestart UnmeshedPodsPolicy = "Restart"
	UnmeshedPodsReport  UnmeshedPodsPolicy = "Report"
)

// MaxUnmeshedPodNames bounds status.dataPlane.unmeshedPodNames.
const MaxUnmeshedPodNames = 10

// MeshInstallationStatus is what the operator observed and did.
type MeshInstallationStatus struct {
	// ObservedGeneration is the spec generation the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready summarises ControlPlaneReady and TrustReady; Reconciling,
	// Stalled and Degraded say what the operator is doing or cannot do.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ReconcileFailures counts the consecutive reconciles that ended in a
	// transient error; Degraded turns True at 3 and the count resets on success.
	// +optional
	ReconcileFailures int32 `json:"reconcileFailures,omitempty"`

	// InstalledVersion is the mesh version whose control plane is deployed.
	// +optional
	InstalledVersion string `json:"installedVersion,omitempty"`

	// SupportedVersions are the mesh versions this operator ships.
	// +optional
	SupportedVersions []string `json:"supportedVersions,omitempty"`

	// ControlPlane is the observed state of the control-plane release.
	// +optional
	ControlPlane ControlPlaneStatus `json:"controlPlane,omitempty"`

	// Trust is the observed state of the mesh's PKI.
	// +optional
	Trust TrustStatus `json:"trust,omitempty"`

	// DataPlane summarises the meshed pods.
	// +optional
	DataPlane DataPlaneStatus `json:"dataPlane,omitempty"`

	// Redirect is the redirect mode the control plane's injector was last
	// deployed with. A spec.dataPlane.redirect that differs is rolled out as
	// a staged upgrade (status.upgrade.redirectFrom and redirectTo).
	// +optional
	Redirect RedirectMode `json:"redirect,omitempty"`

	// CNIPlugin is the CNI plugin's readiness on each node, reported only
	// while spec.dataPlane.redirect is CNI.
	// +optional
	CNIPlugin *CNIPluginStatus `json:"cniPlugin,omitempty"`

	// Upgrade is the upgrade in progress, or the last one.
	// +optional
	Upgrade *UpgradeStatus `json:"upgrade,omitempty"`
	// UpgradeHistory lists finished upgrades, newest first (at most MaxUpgradeHistory).
	// +optional
	UpgradeHistory []UpgradeRecord `json:"upgradeHistory,omitempty"`
}

// DataPlaneStatus counts the meshed pods (those the injector gave a proxy).
type DataPlaneStatus struct {
	// MeshedPods is the number of running or pending meshed pods.
	// +optional
	MeshedPods int32 `json:"meshedPods,omitempty"`
	// OutdatedProxies counts meshed pods whose proxy version differs from the
	// installed mesh version's.
	// +optional
	OutdatedProxies int32 `json:"outdatedProxies,omitempty"`
	// NotReadyProxies counts meshed pods whose proxy does not report ready.
	// +optional
	NotReadyProxies int32 `json:"notReadyProxies,omitempty"`
	// ProxyVersions counts meshed pods per proxy version.
	// +optional
	ProxyVersions []ProxyVersionCount `json:"proxyVersions,omitempty"`
	// UnmeshedPods counts live pods that should carry the proxy and do not:
	// in a meshed namespace (label meshkeeper.io/inject=enabled or
	// spec.dataPlane.namespaceSelector), or annotated so themselves, yet
	// admitted without it, or (redirect CNI) started without its redirect
	// rules, so their startup check failed.
	// +optional
	UnmeshedPods int32 `json:"unmeshedPods,omitempty"`
	// UnmeshedPodNames names the first of them ("namespace/name", sorted, at
	// most MaxUnmeshedPodNames).
	// +kubebuilder:validation:MaxItems=10
	// +optional
	UnmeshedPodNames []string `json:"unmeshedPodNames,omitempty"`
}

// MaxCNINodeNames bounds status.cniPlugin.notReadyNodeNames.
const MaxCNINodeNames = 10

// CNIPluginStatus is the readiness of the CNI plugin's node agent (the
// meshkeeper-cni DaemonSet in the control-plane namespace). A meshed pod
// started on a node without a ready plugin gets no redirect rules, so its
// proxy's startup check fails it: readiness is per node.
type CNIPluginStatus struct {
	// DesiredNodes is the number of nodes the DaemonSet should run on.
	// +optional
	DesiredNodes int32 `json:"desiredNodes,omitempty"`
	// ReadyNodes is the number of nodes where a plugin pod is ready.
	// +optional
	ReadyNodes int32 `json:"readyNodes,omitempty"`
	// UpdatedNodes is the number of nodes running the DaemonSet's current
	// template (the plugin of the installed mesh version).
	// +optional
	UpdatedNodes int32 `json:"updatedNodes,omitempty"`
	// NotReadyNodes counts the nodes known to lack a ready plugin: their
	// plugin pod is not ready, or they run meshed pods in CNI mode and have
	// no ready plugin pod.
	// +optional
	NotReadyNodes int32 `json:"notReadyNodes,omitempty"`
	// NotReadyNodeNames names the first of them (sorted, at most MaxCNINodeNames).
	// +kubebuilder:validation:MaxItems=10
	// +optional
	NotReadyNodeNames []string `json:"notReadyNodeNames,omitempty"`
}

// ProxyVersionCount is the number of meshed pods running one proxy version.
type ProxyVersionCount struct {
	Version string `json:"version"`
	Pods    int32  `json:"pods"`
}

// ControlPlaneStatus is the observed control-plane release.
type ControlPlaneStatus struct {
	// ReleaseName is the Helm release that installs the control plane.
	// +optional
	ReleaseName string `json:"releaseName,omitempty"`
	// ReleaseRevision is the release's current revision.
	// +optional
	ReleaseRevision int `json:"releaseRevision,omitempty"`
	// ReleaseStatus is the Helm status of that revision (deployed, failed, ...).
	// +optional
	ReleaseStatus string `json:"releaseStatus,omitempty"`
	// Digest identifies the chart and values of the deployed revision.
	// +optional
	Digest string `json:"digest,omitempty"`
	// ReadyReplicas counts available replicas over all control-plane Deployments.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// DesiredReplicas counts desired replicas over all control-plane Deployments.
	// +optional
	DesiredReplicas int32 `json:"desiredReplicas,omitempty"`
	// FailedDigest is the chart+values digest whose last install or upgrade
	// failed; the operator does not retry it until the spec changes.
	// +optional
	FailedDigest string `json:"failedDigest,omitempty"`
	// Failures counts consecutive failed attempts at FailedDigest.
	// +optional
	Failures int32 `json:"failures,omitempty"`
	// Probe is the last time the control plane passed its live probes (the
	// injector answered a dry-run pod with the proxy, the identity service
	// issued a certificate verifying to the bundle). ControlPlaneReady is True
	// only while it holds for the running release and Deployments.
	// +optional
	Probe *ProbeStatus `json:"probe,omitempty"`
}

// ProbeStatus records a passed probe of the control plane.
type ProbeStatus struct {
	// Subject identifies what passed: the release digest and the control-plane
	// Deployments' generations. A change of either probes again.
	Subject string `json:"subject"`
	// PassedAt is when the probes passed; they are repeated periodically.
	PassedAt metav1.Time `json:"passedAt"`
}

// TrustStatus is the observed trust anchor and issuer.
type TrustStatus struct {
	// Anchor is the current trust anchor.
	// +optional
	Anchor *CertificateStatus `json:"anchor,omitempty"`
	// Issuer is the current identity issuer.
	// +optional
	Issuer *CertificateStatus `json:"issuer,omitempty"`
	// BundleFingerprints are the SHA-256 fingerprints of every anchor in the
	// published trust bundle.
	// +optional
	BundleFingerprints []string `json:"bundleFingerprints,omitempty"`
	// Rotation is the anchor rotation in progress, if any.
	// +optional
	Rotation *RotationStatus `json:"rotation,omitempty"`
	// NextRotation is when the anchor is next rotated automatically.
	// +optional
	NextRotation *metav1.Time `json:"nextRotation,omitempty"`
	// LastRotation is the last completed rotation.
	// +optional
	LastRotation *RotationRecord `json:"lastRotation,omitempty"`
	// HandledRotateRequest and HandledRecoverRequest are the annotation values
	// already acted on.
	// +optional
	HandledRotateRequest string `json:"handledRotateRequest,omitempty"`
	// +optional
	HandledRecoverRequest string `json:"handledRecoverRequest,omitempty"`
}

// CertificateStatus describes one certificate without revealing its key.
type CertificateStatus struct {
	// Fingerprint is the lowercase hex SHA-256 of the certificate's DER.
	Fingerprint string `json:"fingerprint"`
	// NotBefore and NotAfter bound the certificate's validity.
	NotBefore metav1.Time `json:"notBefore"`
	NotAfter  metav1.Time `json:"notAfter"`
	// Source is Generated or UserProvided.
	// +optional
	Source string `json:"source,omitempty"`
}

// MeshInstallation runs a service mesh: its control plane, data plane and trust.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=mi
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Installed",type=string,JSONPath=`.status.installedVersion`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Meshed",type=integer,JSONPath=`.status.dataPlane.meshedPods`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MeshInstallation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MeshInstallationSpec   `json:"spec,omitempty"`
	Status MeshInstallationStatus `json:"status,omitempty"`
}

// MeshInstallationList is a list of MeshInstallations.
// +kubebuilder:object:root=true
type MeshInstallationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MeshInstallation `json:"items"`
}

func init() {
	SchemeBuilder.Register(&MeshInstallation{}, &MeshInstallationList{})
}
