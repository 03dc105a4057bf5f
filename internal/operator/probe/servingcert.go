package probe

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// handshakeTimeout bounds one TLS handshake with an injector pod.
const handshakeTimeout = 5 * time.Second

// InjectorServingCerts reads the certificate each injector pod presents, by a
// TLS handshake with the pod's IP on the webhook port: the kubelet refreshes a
// mounted Secret on its own schedule and the injector reloads it on change, so
// only the pod itself can say which certificate the API server would see.
type InjectorServingCerts struct {
	Client client.Client // cached pods
	// Port is the webhook's container port; 0 means contract.InjectorPort.
	Port int
}

// Presented returns the leaf of every injector pod in namespace. A pod that
// may serve but cannot be read (not running yet, no IP, a failed handshake)
// is an error: the caller must then keep trusting every CA it may present.
func (r InjectorServingCerts) Presented(ctx context.Context, namespace string) ([]*x509.Certificate, error) {
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(namespace),
		client.MatchingLabels{contract.ComponentLabel: "injector"}); err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for i := range pods.Items {
		p := &pods.Items[i]
		switch {
		case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
			continue // its containers are gone: it serves nothing
		case p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "":
			return nil, fmt.Errorf("injector pod %s is %s; it may start with the old certificate", p.Name, p.Status.Phase)
		}
		leaf, err := presentedLeaf(ctx, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(cmp.Or(r.Port, contract.InjectorPort))), namespace)
		if err != nil {
			return nil, fmt.Errorf("injector pod %s: %w", p.Name, err)
		}
		out = append(out, leaf)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no running injector pod in %s", namespace)
	}
	return out, nil
}

// presentedLeaf completes a handshake with addr and returns the leaf presented.
func presentedLeaf(ctx context.Context, addr, namespace string) (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: contract.InjectorServiceName + "." + namespace + ".svc",
		// Nothing is trusted or sent over this connection: the caller compares
		// the presented leaf byte for byte with the one it generated.
		InsecureSkipVerify: true, //nolint:gosec // see above
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("no certificate presented")
	}
	return certs[0], nil
}
