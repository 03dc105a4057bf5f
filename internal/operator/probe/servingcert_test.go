package probe

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/pki"
)

// serveTLS serves kp on loopback (completing handshakes only) and returns its port.
func serveTLS(t *testing.T, kp *pki.KeyPair) int {
	t.Helper()
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func injectorPod(name string, phase corev1.PodPhase, ip string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "cp", Name: name, Labels: map[string]string{contract.ComponentLabel: "injector"}},
		Status: corev1.PodStatus{Phase: phase, PodIP: ip}}
}

func TestInjectorServingCertsReadsEveryPodOrFails(t *testing.T) {
	now := time.Now()
	ca, _ := pki.GenerateServingCA("ca", now, time.Hour)
	kp, _ := pki.GenerateServing(pki.ServingRequest{CA: ca, DNSNames: []string{"meshkeeper-injector.cp.svc"}, Now: now, Validity: time.Hour})
	port := serveTLS(t, kp)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "cp", Name: "identity", Labels: map[string]string{contract.ComponentLabel: "identity"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "198.18.0.1"}}
	cases := []struct {
		name string
		port int
		pods []client.Object
		want int
		err  string
	}{
		{"every running pod is read", port, []client.Object{injectorPod("a", corev1.PodRunning, "127.0.0.1"), injectorPod("b", corev1.PodRunning, "127.0.0.1"),
			injectorPod("done", corev1.PodSucceeded, ""), other}, 2, ""},
		{"a pending pod holds", port, []client.Object{injectorPod("a", corev1.PodRunning, "127.0.0.1"), injectorPod("p", corev1.PodPending, "")}, 0, "Pending"},
		{"a pod that does not answer holds", closedPort, []client.Object{injectorPod("a", corev1.PodRunning, "127.0.0.1")}, 0, "injector pod a"},
		{"no pod", port, []client.Object{other}, 0, "no running injector pod"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(tc.pods...).Build()
			got, err := InjectorServingCerts{Client: c, Port: tc.port}.Presented(context.Background(), "cp")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want ~%q", err, tc.err)
				}
				return
			}
			if err != nil || len(got) != tc.want {
				t.Fatalf("got %d leaves, %v; want %d", len(got), err, tc.want)
			}
			for _, l := range got {
				if !l.Equal(kp.Cert) {
					t.Fatalf("presented leaf %s is not the served one", strconv.Quote(l.Subject.CommonName))
				}
			}
		})
	}
}
