//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/test/images"
)

// protoReport mirrors test/apps/sampleapp's ProtoReport.
type protoReport struct {
	Checks []struct {
		Name, Detail string
		OK           bool
		Ms           float64
	}
	Metrics string
}

// testProtocolMatrix runs every protocol between two meshed pods
// (sampleapp protocheck → sampleapp protocols) and checks both that it works
// (the checker verifies checksums, incremental delivery, echoes) and that
// both proxies count it right: success and failure, status and gRPC status,
// tls="true", the destination; then promtool accepts the proxies' metrics.
func testProtocolMatrix(t *testing.T, cs kubernetes.Interface) {
	const ns = "e2e-mesh"
	protocolServer(t, cs, ns)
	eventually(t, ctxFor(t, 3*time.Minute), "protocols server ready", deploymentReady(cs, ns, "protocols"))

	out := runPod(t, cs, ns, "protocheck", []string{"protocheck", "-host", "protocols." + ns + ".svc"}, 6*time.Minute)
	var rep protoReport
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &rep) != nil {
		t.Fatalf("protocheck report: %s", out)
	}
	for _, c := range rep.Checks {
		t.Logf("FIGURE protocol %s ok=%v %s (%.1f ms)", c.Name, c.OK, c.Detail, c.Ms)
		if !c.OK {
			t.Errorf("%s failed: %s", c.Name, c.Detail)
		}
	}

	parser := expfmt.NewTextParser(model.UTF8Validation)
	client, err := parser.TextToMetricFamilies(strings.NewReader(rep.Metrics))
	if err != nil {
		t.Fatalf("client proxy metrics: %v\n%s", err, rep.Metrics)
	}
	servers := meshedPods(t, cs, ns, "app=protocols")
	if len(servers) != 1 {
		t.Fatalf("want 1 protocols pod, got %d", len(servers))
	}
	server, err := proxyFamilies(ctxFor(t, 10*time.Second), servers[0].Status.PodIP)
	if err != nil {
		t.Fatal(err)
	}
	const peer = "spiffe://cluster.local/ns/" + ns + "/sa/default"
	sides := []struct {
		name string
		fams map[string]*dto.MetricFamily
		base map[string]string
	}{
		{"client outbound", client, map[string]string{contract.LabelDirection: contract.DirectionOutbound,
			contract.LabelDstNamespace: ns, contract.LabelDstService: "protocols", contract.LabelTLS: "true"}},
		{"server inbound", server, map[string]string{contract.LabelDirection: contract.DirectionInbound,
			contract.LabelPeerIdentity: peer, contract.LabelTLS: "true"}},
	}
	for _, side := range sides {
		for _, want := range []struct {
			what   string
			labels map[string]string
			n      float64
		}{
			{"gRPC OK (10 unary, 1 stream)", map[string]string{contract.LabelGRPCStatus: "0", contract.LabelClassification: contract.ClassSuccess}, 11},
			{"gRPC NOT_FOUND", map[string]string{contract.LabelGRPCStatus: "5", contract.LabelClassification: contract.ClassSuccess, contract.LabelStatusCode: "200"}, 10},
			{"gRPC UNAVAILABLE", map[string]string{contract.LabelGRPCStatus: "14", contract.LabelClassification: contract.ClassFailure, contract.LabelStatusCode: "200"}, 5},
			{"gRPC stream INTERNAL after data", map[string]string{contract.LabelGRPCStatus: "13", contract.LabelClassification: contract.ClassFailure}, 1},
			{"websocket", map[string]string{contract.LabelStatusCode: "101", contract.LabelClassification: contract.ClassSuccess, contract.LabelError: ""}, 1},
			{"HTTP upload, download, h2c, SSE", map[string]string{contract.LabelStatusCode: "200", contract.LabelGRPCStatus: "", contract.LabelClassification: contract.ClassSuccess, contract.LabelError: ""}, 4},
			{"every failure", map[string]string{contract.LabelClassification: contract.ClassFailure}, 6},
		} {
			labels := map[string]string{}
			for k, v := range side.base {
				labels[k] = v
			}
			for k, v := range want.labels {
				labels[k] = v
			}
			if got := sumCounter(side.fams, contract.MetricRequestsTotal, labels); got != want.n {
				t.Errorf("%s: %s counted %v, want %v (%v)", side.name, want.what, got, want.n, labels)
			}
		}
	}
	// The banner (opaque port) and the websocket session ran over mTLS and are in the TCP series.
	tcp := map[string]string{contract.LabelDirection: contract.DirectionOutbound, contract.LabelDstService: "protocols", contract.LabelTLS: "true"}
	if got := sumCounter(client, contract.MetricTCPConnectionsTotal, tcp); got < 2 {
		t.Errorf("client proxy counted %v mTLS connections to protocols, want the banner's and the websocket's at least", got)
	}
	promtoolCheck(t, "http://"+servers[0].Status.PodIP+":4191"+contract.MetricsPath, rep.Metrics)
}

// promtoolCheck runs promtool check metrics on a proxy's whole /metrics and
// on the client's own series.
func promtoolCheck(t *testing.T, url, clientSeries string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found (apt-get install prometheus)")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	body := string(b)
	for name, text := range map[string]string{"server proxy": body, "client proxy (meshkeeper_ series)": clientSeries} {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader([]byte(text))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics on the %s: %v\n%s", name, err, out)
		}
	}
	t.Logf("FIGURE promtool check metrics accepted the proxies' /metrics")
}

// protocolServer creates the protocols Deployment (port 2525 opaque by pod
// annotation) and its Service.
func protocolServer(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	protocolServerN(t, cs, ns, 1)
}

// protocolServerN is protocolServer with replicas pods.
func protocolServerN(t *testing.T, cs kubernetes.Interface, ns string, replicas int32) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	labels := map[string]string{"app": "protocols"}
	_, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "protocols", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{contract.OpaquePortsAnnotation: "2525"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "protocols", Image: images.SampleAppImage, ImagePullPolicy: corev1.PullIfNotPresent,
					Args:           []string{"protocols"},
					Ports:          []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 9090}, {ContainerPort: 2525}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 2},
				}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "protocols", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
			{Name: "grpc", Port: 9090, TargetPort: intstr.FromInt32(9090)},
			{Name: "banner", Port: 2525, TargetPort: intstr.FromInt32(2525)},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}
