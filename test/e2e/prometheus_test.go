//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// prometheusPort is where the e2e Prometheus listens on the node address
// (not 9090, which a packaged Prometheus service would take).
const prometheusPort = 19090

// prometheusConfig scrapes the meshed proxies' admin port with the pod's
// namespace as the "namespace" label the gate's queries select on. Debian's
// Prometheus is built without kubernetes_sd, so the targets come from a file
// the test keeps in step with the meshed pods (discoverProxies) — the same
// targets and labels the usual kubernetes_sd pod job gives (README).
const prometheusConfig = `global:
  scrape_interval: 2s
  scrape_timeout: 2s
scrape_configs:
  - job_name: meshkeeper-proxies
    file_sd_configs:
      - files: [%q]
        refresh_interval: 2s
`

// startPrometheus runs the Debian package's Prometheus on the host, on the
// address the cluster's pods reach the node (and API server) at, so the
// operator can query it. It stops with the test. It returns the URL.
func startPrometheus(t testing.TB, cs kubernetes.Interface) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus (Debian package, installed by the cluster harness) not found: %v", err)
	}
	host, err := apiServerHost()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	targets := filepath.Join(dir, "proxies.json")
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(fmt.Sprintf(prometheusConfig, targets)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	discovered := make(chan struct{})
	go func() {
		defer close(discovered)
		discoverProxies(ctx, cs, targets)
	}()
	addr := net.JoinHostPort(host, strconv.Itoa(prometheusPort))
	if err := os.MkdirAll(env.artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(env.artifacts, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--storage.tsdb.retention.time=1h",
		"--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		<-discovered
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
	})
	u := "http://" + addr
	eventually(t, ctxFor(t, time.Minute), "prometheus scraping the proxies", func(ctx context.Context) error {
		return promHasSeries(ctx, u, `up{job="meshkeeper-proxies"} == 1`)
	})
	return u
}

// fileTargets is one group of Prometheus file_sd targets.
type fileTargets struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// discoverProxies rewrites the file_sd targets file every two seconds with
// the admin address of every running meshed pod, until ctx ends.
func discoverProxies(ctx context.Context, cs kubernetes.Interface, file string) {
	for {
		pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: contract.ProxyVersionLabel})
		if err == nil {
			groups := []fileTargets{}
			for _, p := range pods.Items {
				if p.Status.PodIP == "" || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
					continue
				}
				groups = append(groups, fileTargets{
					Targets: []string{net.JoinHostPort(p.Status.PodIP, strconv.Itoa(contract.ProxyAdminPort))},
					Labels:  map[string]string{"namespace": p.Namespace, "pod": p.Name},
				})
			}
			if data, err := json.Marshal(groups); err == nil {
				// Rename, so Prometheus never reads a half-written file.
				if os.WriteFile(file+".tmp", data, 0o600) == nil {
					_ = os.Rename(file+".tmp", file)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// promHasSeries reports whether an instant query returns at least one series.
func promHasSeries(ctx context.Context, base, query string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result []any `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	if body.Status != "success" || len(body.Data.Result) == 0 {
		return fmt.Errorf("%s: status %s, %d series", query, body.Status, len(body.Data.Result))
	}
	return nil
}

// apiServerHost is the host of the cluster's API server URL: the node
// address pods reach the host at.
func apiServerHost() (string, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", env.kubeconfig)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return "", err
	}
	return u.Hostname(), nil
}
