package pki

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestIssuedCertificatesVerifyAgainstTheCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Issue(dir, Leaf{Name: "srv", CommonName: "srv", Server: true,
		DNSNames: []string{"kubernetes.default.svc"}, IPs: []net.IP{net.ParseIP("198.18.0.1")}}); err != nil {
		t.Fatal(err)
	}
	if err := ca.Issue(dir, Leaf{Name: "cli", CommonName: "system:node:n", Organization: []string{"system:nodes"}}); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	srv := readCert(t, filepath.Join(dir, "srv.crt"))
	if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: "198.18.0.1"}); err != nil {
		t.Fatalf("serving cert: %v", err)
	}
	cli := readCert(t, filepath.Join(dir, "cli.crt"))
	if _, err := cli.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client cert: %v", err)
	}
	if cli.Subject.Organization[0] != "system:nodes" {
		t.Fatalf("organization lost: %v", cli.Subject)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("a client-only certificate verified for server auth")
	}
}

func TestKubeconfigLoadsWithClientcmd(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Issue(dir, Leaf{Name: "admin", CommonName: "admin", Organization: []string{"system:masters"}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "admin.kubeconfig")
	if err := WriteKubeconfig(path, "https://198.18.0.1:6443", dir, "admin"); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://198.18.0.1:6443" || cfg.TLSClientConfig.CertFile != filepath.Join(dir, "admin.crt") {
		t.Fatalf("unexpected rest config: host %s cert %s", cfg.Host, cfg.TLSClientConfig.CertFile)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
