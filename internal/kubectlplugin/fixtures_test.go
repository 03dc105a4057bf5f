package kubectlplugin

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/prometheus/common/expfmt"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
	proxymetricspkg "github.com/meshkeeper/meshkeeper/proxy/metrics"
)

// The fixture world: mesh 0.2.0 in "demo", anchor A, issuer I, one rotation-free day.
var (
	now      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	anchorA  = "aaaaaaaaaaaa" + "0000000000000000000000000000000000000000000000000000"
	anchorB  = "bbbbbbbbbbbb" + "0000000000000000000000000000000000000000000000000000"
	issuerI  = "111111111111" + "0000000000000000000000000000000000000000000000000000"
	issuerJ  = "222222222222" + "0000000000000000000000000000000000000000000000000000"
	cpNS     = "meshkeeper-system"
	proxyVer = "0.2.0"
)

func mt(t time.Time) metav1.Time { return metav1.NewTime(t) }

func healthyMI() *meshv1.MeshInstallation {
	mi := &meshv1.MeshInstallation{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh", Generation: 3, ResourceVersion: "7"},
		Spec: meshv1.MeshInstallationSpec{
			Version:      "0.2.0",
			ControlPlane: meshv1.ControlPlaneSpec{Namespace: cpNS, Replicas: ptr.To[int32](1)},
			Trust: meshv1.TrustSpec{TrustDomain: "cluster.local",
				Anchor: &meshv1.CertificateLifetime{Validity: metav1.Duration{Duration: 8760 * time.Hour}, RenewBefore: metav1.Duration{Duration: 720 * time.Hour}},
				Issuer: &meshv1.CertificateLifetime{Validity: metav1.Duration{Duration: 720 * time.Hour}, RenewBefore: metav1.Duration{Duration: 168 * time.Hour}}},
			DataPlane: meshv1.DataPlaneSpec{MTLSMode: meshv1.MTLSPermissive, UnmeshedPods: meshv1.UnmeshedPodsRestart},
		},
		Status: meshv1.MeshInstallationStatus{
			ObservedGeneration: 3, InstalledVersion: "0.2.0", SupportedVersions: []string{"0.1.0", "0.2.0"},
			ControlPlane: meshv1.ControlPlaneStatus{ReleaseName: "meshkeeper", ReleaseRevision: 2, ReleaseStatus: "deployed",
				ReadyReplicas: 2, DesiredReplicas: 2, Probe: &meshv1.ProbeStatus{Subject: "x", PassedAt: mt(now.Add(-90 * time.Second))}},
			Trust: meshv1.TrustStatus{
				Anchor:             &meshv1.CertificateStatus{Fingerprint: anchorA, NotBefore: mt(now.Add(-24 * time.Hour)), NotAfter: mt(now.Add(364 * 24 * time.Hour)), Source: meshv1.SourceGenerated},
				Issuer:             &meshv1.CertificateStatus{Fingerprint: issuerI, NotBefore: mt(now.Add(-24 * time.Hour)), NotAfter: mt(now.Add(29 * 24 * time.Hour)), Source: meshv1.SourceGenerated},
				BundleFingerprints: []string{anchorA},
				NextRotation:       ptr.To(mt(now.Add(334 * 24 * time.Hour))),
			},
			DataPlane: meshv1.DataPlaneStatus{MeshedPods: 3, ProxyVersions: []meshv1.ProxyVersionCount{{Version: "0.2.0", Pods: 3}}},
		},
	}
	for _, c := range []string{meshv1.ConditionReady, meshv1.ConditionControlPlaneReady, meshv1.ConditionTrustReady, meshv1.ConditionDataPlaneReady} {
		meta.SetStatusCondition(&mi.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue, Reason: meshv1.ReasonReady, Message: c + " holds", LastTransitionTime: mt(now.Add(-time.Hour))})
	}
	for _, c := range []string{meshv1.ConditionReconciling, meshv1.ConditionStalled, meshv1.ConditionDegraded} {
		meta.SetStatusCondition(&mi.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionFalse, Reason: meshv1.ReasonAsExpected, LastTransitionTime: mt(now.Add(-time.Hour))})
	}
	return mi
}

func deployment(ns, name string, replicas, available int32, labels map[string]string) appsv1.Deployment {
	return appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1, Labels: labels},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, AvailableReplicas: available, Replicas: replicas},
	}
}

func meshedPod(ns, name string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{contract.ProxyVersionLabel: proxyVer},
			Annotations: map[string]string{contract.InjectedAnnotation: "true"}},
		Spec:   corev1.PodSpec{InitContainers: []corev1.Container{{Name: contract.ProxyContainerName}}, Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func report(ns, name, version string, anchors []string, issuer string) proxymetrics.PodReport {
	return proxymetrics.PodReport{Pod: types.NamespacedName{Namespace: ns, Name: name},
		Report: proxymetrics.Report{Version: version, TrustAnchors: anchors, Issuer: issuer}}
}

// healthyFacts is an installed mesh where every check passes.
func healthyFacts() Facts {
	cp := map[string]string{contract.ComponentLabel: "identity"}
	cpPod := meshedPod(cpNS, "meshkeeper-identity-0")
	cpPod.Labels = cp
	return Facts{
		Now:              now,
		Installation:     healthyMI(),
		ProxyVersion:     proxyVer,
		Operator:         []appsv1.Deployment{deployment(cpNS, "meshkeeper-controller-manager", 1, 1, nil)},
		ControlPlane:     []appsv1.Deployment{deployment(cpNS, "meshkeeper-identity", 1, 1, cp), deployment(cpNS, "meshkeeper-injector", 1, 1, cp)},
		ControlPlanePods: []corev1.Pod{cpPod},
		Injection:        InjectionResult{Namespace: "demo", ProxyContainer: true, ProxyVersion: proxyVer},
		MeshedNamespaces: []string{"demo"},
		Bundles:          map[string][]string{"demo": {anchorA}},
		BundleErrs:       map[string]error{},
		MeshedPods:       []corev1.Pod{meshedPod("demo", "backend-1"), meshedPod("demo", "frontend-1")},
		Proxies: []proxymetrics.PodReport{
			report("demo", "backend-1", proxyVer, []string{anchorA}, issuerI),
			report("demo", "frontend-1", proxyVer, []string{anchorA}, issuerI),
		},
	}
}

// exposition renders what the real proxy metrics package serves after reqs.
func exposition(t *testing.T, anchors, issuer string, reqs ...proxymetricspkg.Request) []byte {
	t.Helper()
	m := proxymetricspkg.New(proxyVer, fixedInfo{anchors, issuer})
	for _, r := range reqs {
		m.ObserveRequest(r)
	}
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

type fixedInfo struct{ anchors, issuer string }

func (f fixedInfo) AnchorsLabel() string { return f.anchors }
func (f fixedInfo) IssuerLabel() string  { return f.issuer }

// requests builds n requests of one kind.
func requests(n int, direction string, dst proxymetricspkg.Dst, status int, latency time.Duration) []proxymetricspkg.Request {
	out := make([]proxymetricspkg.Request, n)
	for i := range out {
		out[i] = proxymetricspkg.Request{Direction: direction, Dst: dst, Outcome: proxymetricspkg.Outcome{Status: status}, Latency: latency}
	}
	return out
}

// fakeMetrics serves fixture expositions by "namespace/name".
type fakeMetrics map[string][]byte

func (f fakeMetrics) Metrics(_ context.Context, pod *corev1.Pod) ([]byte, error) {
	body, ok := f[pod.Namespace+"/"+pod.Name]
	if !ok {
		return nil, fmt.Errorf("the server is currently unable to handle the request (get pods %s:4191)", pod.Name)
	}
	return body, nil
}
