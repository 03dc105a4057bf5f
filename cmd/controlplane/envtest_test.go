package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/testsupport"
	"github.com/meshkeeper/meshkeeper/internal/testsupport/kubeenv"
)

const cpNS = "meshkeeper-system"

// apiServer starts etcd + kube-apiserver (envtest) and returns an admin client
// and a kubeconfig file for the program under test.
func apiServer(t *testing.T) (kubernetes.Interface, string) {
	t.Helper()
	env, cfg := kubeenv.StartT(t, kubeenv.Options{})
	user, err := env.AddUser(envtest.User{Name: "controlplane-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return kubernetes.NewForConfigOrDie(cfg), path
}

// runInBackground runs a subcommand until the test ends and checks it exits cleanly.
func runInBackground(t *testing.T, run func(context.Context, *slog.Logger, []string) error, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() { done <- run(ctx, log, args) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("subcommand exited with error: %v", err)
		}
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func poll(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	testsupport.Until(t, what, timeout, cond)
}

func waitReady(t *testing.T, adminAddr string) {
	t.Helper()
	poll(t, "/ready on "+adminAddr, 30*time.Second, func() bool {
		resp, err := http.Get("http://" + adminAddr + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func issuerSecret(p testPKI) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: contract.IssuerSecret, Namespace: cpNS},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: p.certPEM, corev1.TLSPrivateKeyKey: p.keyPEM, "ca.crt": p.anchorPEM},
	}
}

func trustBundle(anchors ...testPKI) *corev1.ConfigMap {
	var data []byte
	for _, a := range anchors {
		data = append(data, a.anchorPEM...)
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: contract.TrustRootsConfigMap, Namespace: cpNS},
		Data:       map[string]string{contract.TrustRootsKey: string(data)},
	}
}

func mustCreate[T any](t *testing.T, create func(context.Context, T, metav1.CreateOptions) (T, error), obj T) T {
	t.Helper()
	out, err := create(t.Context(), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return out
}

func namespaceObj(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// TestIdentityAndDiscoveryAgainstAPIServer runs `controlplane identity` against
// a real API server: real TokenReviews, the Secret watch and the informers.
func TestIdentityAndDiscoveryAgainstAPIServer(t *testing.T) {
	client, kubeconfig := apiServer(t)
	first := newTestPKI(t, "first", true)
	mustCreate(t, client.CoreV1().Namespaces().Create, namespaceObj(cpNS, nil))
	mustCreate(t, client.CoreV1().Secrets(cpNS).Create, issuerSecret(first))
	mustCreate(t, client.CoreV1().ConfigMaps(cpNS).Create, trustBundle(first))

	idAddr, discAddr, adminAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	runInBackground(t, runIdentity, "--namespace="+cpNS, "--trust-domain=cluster.local",
		"--issuer-secret="+contract.IssuerSecret, "--trust-roots-configmap="+contract.TrustRootsConfigMap,
		"--leaf-ttl=1m", "--identity-listen="+idAddr, "--discovery-listen="+discAddr,
		"--admin-listen="+adminAddr, "--kubeconfig="+kubeconfig)
	waitReady(t, adminAddr)

	mustCreate(t, client.CoreV1().Namespaces().Create, namespaceObj("shop", nil))
	mustCreate(t, client.CoreV1().ServiceAccounts("shop").Create, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web"}})
	token := func(audience string) string {
		tr, err := client.CoreV1().ServiceAccounts("shop").CreateToken(t.Context(), "web", &authnv1.TokenRequest{
			Spec: authnv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: ptr.To[int64](600)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	anchors := first.pool()
	idClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: anchors, ServerName: contract.IdentityServiceName + "." + cpNS + ".svc"}}}
	var lastKey *ecdsa.PrivateKey // the key of the last certify call, for a client certificate
	certify := func(tok string) (int, []*x509.Certificate) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		lastKey = key
		csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
		body, _ := json.Marshal(contract.CertifyRequest{
			CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})), Token: tok})
		resp, err := idClient.Post("https://"+idAddr+contract.IdentityPath, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Logf("certify: %v", err)
			return 0, nil
		}
		defer resp.Body.Close()
		var out contract.CertifyResponse
		_ = json.NewDecoder(resp.Body).Decode(&out)
		var chain []*x509.Certificate
		for rest := []byte(out.CertificateChain); ; {
			var block *pem.Block
			if block, rest = pem.Decode(rest); block == nil {
				break
			}
			c, _ := x509.ParseCertificate(block.Bytes)
			chain = append(chain, c)
		}
		return resp.StatusCode, chain
	}
	verify := func(chain []*x509.Certificate, roots *x509.CertPool) error {
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return err
	}

	t.Run("certify with a real projected-audience token", func(t *testing.T) {
		status, chain := certify(token(contract.IdentityTokenAudience))
		if status != http.StatusOK || len(chain) != 2 {
			t.Fatalf("status %d, chain %d", status, len(chain))
		}
		if err := verify(chain, first.pool()); err != nil {
			t.Fatal(err)
		}
		if got := chain[0].URIs[0].String(); got != "spiffe://cluster.local/ns/shop/sa/web" {
			t.Fatalf("identity %s", got)
		}
		if life := chain[0].NotAfter.Sub(time.Now()); life > time.Minute+time.Second || life < 50*time.Second {
			t.Fatalf("leaf lifetime %v, want about --leaf-ttl=1m", life)
		}
	})
	t.Run("token for the API server audience is refused", func(t *testing.T) {
		if status, _ := certify(token("https://kubernetes.default.svc")); status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", status)
		}
	})

	t.Run("discovery streams meshed pods and services", func(t *testing.T) {
		pod := mustCreate(t, client.CoreV1().Pods("shop").Create, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-0", Labels: map[string]string{"app": "web"},
				Annotations: map[string]string{contract.InjectedAnnotation: "true"}},
			Spec: corev1.PodSpec{ServiceAccountName: "web", Containers: []corev1.Container{{Name: "app", Image: "web:1"}}},
		})
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.5", PodIPs: []corev1.PodIP{{IP: "10.244.0.5"}}}
		if _, err := client.CoreV1().Pods("shop").UpdateStatus(t.Context(), pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		svc := mustCreate(t, client.CoreV1().Services("shop").Create, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
		})
		mustCreate(t, client.DiscoveryV1().EndpointSlices("shop").Create, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "web-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		})

		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		discTLS := &tls.Config{RootCAs: anchors, ServerName: contract.DiscoveryServiceName + "." + cpNS + ".svc"}
		anonymous := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: discTLS.Clone()}}
		if resp, err := anonymous.Get("https://" + discAddr + contract.DiscoveryPath); err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a caller without a workload certificate: %v %v, want 401", err, resp)
		} else {
			resp.Body.Close()
		}
		// A proxy presents the certificate the identity service issued it.
		status, chain := certify(token(contract.IdentityTokenAudience))
		if status != http.StatusOK {
			t.Fatalf("certify for a client certificate: %d", status)
		}
		clientCert := tls.Certificate{PrivateKey: lastKey}
		for _, c := range chain {
			clientCert.Certificate = append(clientCert.Certificate, c.Raw)
		}
		discTLS.Certificates = []tls.Certificate{clientCert}
		discClient := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: discTLS}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+discAddr+contract.DiscoveryPath, nil)
		resp, err := discClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		key := net.JoinHostPort(svc.Spec.ClusterIP, "80")
		identity := "spiffe://cluster.local/ns/shop/sa/web"
		lines := bufio.NewScanner(resp.Body)
		lines.Buffer(nil, 16<<20)
		for lines.Scan() {
			if strings.TrimSpace(lines.Text()) == "" {
				continue
			}
			var snap contract.DiscoverySnapshot
			if err := json.Unmarshal(lines.Bytes(), &snap); err != nil {
				t.Fatal(err)
			}
			eps := snap.Services[key].Endpoints
			if snap.Pods["10.244.0.5"].Identity == identity && len(eps) == 1 && eps[0].Port == 8080 && eps[0].Identity == identity {
				t.Logf("revision %d has pod and service %s (proto %s)", snap.Revision, key, resp.Proto)
				return
			}
		}
		t.Fatalf("stream ended before the snapshot had the pod and service: %v", lines.Err())
	})

	t.Run("issuer rotation reaches new certificates without restart", func(t *testing.T) {
		second := newTestPKI(t, "second", true)
		anchors.AddCert(second.anchor) // clients trust both anchors during a rotation
		// The Secret changes first; the identity holds the new issuer back until
		// the published bundle carries its anchor.
		if _, err := client.CoreV1().Secrets(cpNS).Update(t.Context(), issuerSecret(second), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if status, chain := certify(token(contract.IdentityTokenAudience)); status != http.StatusOK || verify(chain, first.pool()) != nil {
			t.Fatalf("right after the Secret switch: status %d, want a certificate still from the first issuer", status)
		}
		if _, err := client.CoreV1().ConfigMaps(cpNS).Update(t.Context(), trustBundle(first, second), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		tok := token(contract.IdentityTokenAudience)
		poll(t, "a certificate from the new issuer", 30*time.Second, func() bool {
			status, chain := certify(tok)
			return status == http.StatusOK && verify(chain, second.pool()) == nil
		})
		// The serving certificate moved too.
		conn, err := tls.Dial("tcp", idAddr, &tls.Config{RootCAs: second.pool(), ServerName: contract.IdentityServiceName + "." + cpNS + ".svc"})
		if err != nil {
			t.Fatalf("serving chain does not verify against the new anchor: %v", err)
		}
		conn.Close()
	})
}

// TestInjectorAgainstAPIServer registers the injector as a real mutating
// webhook and checks the API server stores injected pods.
func TestInjectorAgainstAPIServer(t *testing.T) {
	client, kubeconfig := apiServer(t)
	serving := newTestPKI(t, "injector", false)
	tlsDir := t.TempDir()
	writeServing := func(p testPKI) {
		for name, data := range map[string][]byte{corev1.TLSCertKey: p.certPEM, corev1.TLSPrivateKeyKey: p.keyPEM} {
			tmp := filepath.Join(tlsDir, "."+name)
			if err := os.WriteFile(tmp, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(tlsDir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeServing(serving)
	for _, ns := range []*corev1.Namespace{
		namespaceObj(cpNS, nil), namespaceObj("meshed", map[string]string{contract.InjectKey: contract.InjectEnabled}), namespaceObj("plain", nil),
	} {
		mustCreate(t, client.CoreV1().Namespaces().Create, ns)
	}

	listen, adminAddr := freeAddr(t), freeAddr(t)
	args := append([]string{}, chartInjectorArgs...)
	args = append(args, "--listen="+listen, "--admin-listen="+adminAddr, "--tls-dir="+tlsDir, "--kubeconfig="+kubeconfig)
	runInBackground(t, runInjector, args...)
	waitReady(t, adminAddr)

	mustCreate(t, client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "meshkeeper-injector"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "inject.meshkeeper.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://" + listen + "/inject"), CABundle: serving.anchorPEM},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
		}},
	})

	newPod := func(annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "app-", Annotations: annotations},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		}
	}
	names := func(cs []corev1.Container) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}

	t.Run("pod in an opted-in namespace is stored with the proxy", func(t *testing.T) {
		// The webhook configuration takes effect asynchronously; retry creation until injected.
		var pod *corev1.Pod
		poll(t, "an injected pod", 30*time.Second, func() bool {
			var err error
			pod, err = client.CoreV1().Pods("meshed").Create(t.Context(), newPod(nil), metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create pod: %v", err)
			}
			return len(pod.Spec.InitContainers) > 0
		})
		if got := names(pod.Spec.InitContainers); strings.Join(got, ",") != contract.ProxyInitContainerName+","+contract.ProxyContainerName {
			t.Fatalf("init containers %v", got)
		}
		if rp := pod.Spec.InitContainers[1].RestartPolicy; rp == nil || *rp != corev1.ContainerRestartPolicyAlways {
			t.Fatal("proxy is not a native sidecar")
		}
		if pod.Labels[contract.ProxyVersionLabel] != "0.1.0" || pod.Annotations[contract.InjectedAnnotation] != "true" {
			t.Fatalf("metadata %v %v", pod.Labels, pod.Annotations)
		}
	})
	t.Run("pods not opted in are stored unchanged", func(t *testing.T) {
		for ns, ann := range map[string]map[string]string{
			"plain":  nil,
			"meshed": {contract.InjectKey: contract.InjectDisabled},
			cpNS:     {contract.InjectKey: contract.InjectEnabled},
		} {
			pod := mustCreate(t, client.CoreV1().Pods(ns).Create, newPod(ann))
			if len(pod.Spec.InitContainers) != 0 {
				t.Errorf("namespace %s: pod injected: %v", ns, names(pod.Spec.InitContainers))
			}
		}
		pod := mustCreate(t, client.CoreV1().Pods("plain").Create, newPod(map[string]string{contract.InjectKey: contract.InjectEnabled}))
		if len(pod.Spec.InitContainers) != 2 {
			t.Error("pod annotation opt-in in a plain namespace was not injected")
		}
	})
	t.Run("serving certificate reloads when the files change", func(t *testing.T) {
		servedSerial := func() string {
			conn, err := tls.Dial("tcp", listen, &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				return ""
			}
			defer conn.Close()
			return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
		}
		before := servedSerial()
		next := newTestPKI(t, "injector-renewed", false)
		writeServing(next)
		block, _ := pem.Decode(next.certPEM)
		want, _ := x509.ParseCertificate(block.Bytes)
		poll(t, "the renewed serving certificate", 30*time.Second, func() bool { return servedSerial() == want.SerialNumber.String() })
		if before == want.SerialNumber.String() {
			t.Fatal("serial did not change")
		}
	})
}
