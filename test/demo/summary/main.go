// Command summary prints the end of `make demo`: the MeshInstallation's status,
// the control-plane and sample-app pods (and whether they are meshed), the
// frontend's call counts, and where to look next.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
)

var meshInstallations = schema.GroupVersionResource{Group: "mesh.meshkeeper.io", Version: "v1alpha1", Resource: "meshinstallations"}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the demo cluster")
	kubectl := flag.String("kubectl", "kubectl", "kubectl path, for the hints")
	name := flag.String("name", "mesh", "MeshInstallation name")
	appNS := flag.String("app-namespace", "demo", "sample app namespace")
	readyAfter := flag.Duration("ready-after", 0, "measured CR apply -> Ready time")
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fatal(err)
	}
	cfg.Timeout = 15 * time.Second
	cs := kubernetes.NewForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	mi, err := dyn.Resource(meshInstallations).Get(ctx, *name, metav1.GetOptions{})
	if err != nil {
		fatal(err)
	}
	cpNS, _, _ := unstructured.NestedString(mi.Object, "spec", "controlPlane", "namespace")
	version, _, _ := unstructured.NestedString(mi.Object, "spec", "version")
	fmt.Printf("\n================ meshkeeper demo ================\n\n")
	fmt.Printf("MeshInstallation %q, mesh version %s (Ready %s after apply):\n", *name, version, readyAfter.Round(100*time.Millisecond))
	conds, _, _ := unstructured.NestedSlice(mi.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		fmt.Printf("  %-18v %-6v %v %v\n", m["type"], m["status"], m["reason"], m["message"])
	}

	fmt.Printf("\nControl plane (namespace %s):\n", cpNS)
	printPods(ctx, cs, cpNS)
	fmt.Printf("\nSample app (namespace %s, %s=%s):\n", *appNS, contract.InjectKey, contract.InjectEnabled)
	meshed := printPods(ctx, cs, *appNS)
	if meshed {
		fmt.Println("  -> the app's pods are meshed (a proxy sidecar was injected)")
	} else {
		fmt.Println("  -> the app's pods were NOT injected with a proxy: check the injector pod's logs")
	}
	fmt.Printf("\nFrontend -> backend calls so far: %s\n", frontendStats(ctx, cs, *appNS))
	printGoldenMetrics(ctx, cs, *appNS)

	kc := *kubeconfig
	fmt.Printf(`
Where to look next:
  export KUBECONFIG=%s
  alias kubectl=%s
  kubectl get mi %s -o yaml                          # the installation's full status
  kubectl -n %s logs -f deployment/frontend          # calls through the mesh
  kubectl -n %s port-forward deployment/backend %d:%d &
  curl -s localhost:%d%s | grep meshkeeper_proxy_     # a proxy's golden metrics
  make cluster-status                                  # cluster processes, node, pods
  make demo-down                                       # remove everything, restore the host
`, kc, *kubectl, *name, *appNS, *appNS, contract.ProxyAdminPort, contract.ProxyAdminPort, contract.ProxyAdminPort, contract.MetricsPath)
}

// printPods lists the namespace's pods and reports whether all are injected.
func printPods(ctx context.Context, cs kubernetes.Interface, ns string) bool {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Printf("  (cannot list pods: %v)\n", err)
		return false
	}
	allMeshed := len(pods.Items) > 0
	for _, p := range pods.Items {
		proxy := p.Labels[contract.ProxyVersionLabel]
		if proxy == "" {
			allMeshed = false
			proxy = "-"
		}
		fmt.Printf("  %-48s %-9s ready=%-5v ip=%-13s containers=%-28s proxy=%s\n", p.Name, p.Status.Phase, ready(&p),
			p.Status.PodIP, containerNames(&p), proxy)
	}
	return allMeshed
}

func containerNames(p *corev1.Pod) string {
	var names []string
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		names = append(names, c.Name)
	}
	return strings.Join(names, ",")
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// frontendStats reads the frontend's /stats through the API server's pod proxy.
func frontendStats(ctx context.Context, cs kubernetes.Interface, ns string) string {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=frontend"})
	if err != nil || len(pods.Items) == 0 {
		return "no frontend pod"
	}
	b, err := cs.CoreV1().Pods(ns).ProxyGet("http", pods.Items[0].Name, "8080", "/stats", nil).DoRaw(ctx)
	if err != nil {
		return "unavailable: " + err.Error()
	}
	var s struct{ OK, Failed int64 }
	if err := json.Unmarshal(b, &s); err != nil {
		return string(b)
	}
	return fmt.Sprintf("%d ok, %d failed", s.OK, s.Failed)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "summary:", err)
	os.Exit(1)
}

// printGoldenMetrics reads each meshed pod's proxy twice, a few seconds apart,
// and prints the golden metrics of what it served: request rate, success
// rate, p99 latency, and whether callers used mTLS.
func printGoldenMetrics(ctx context.Context, cs kubernetes.Interface, ns string) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.ProxyVersionLabel})
	if err != nil || len(pods.Items) == 0 {
		return
	}
	const window = 5 * time.Second
	scraper := proxymetrics.NewScraper()
	first := scraper.Scrape(ctx, pods.Items)
	time.Sleep(window)
	second := scraper.Scrape(ctx, pods.Items)
	fmt.Printf("\nGolden metrics, inbound, over the last %s (from each proxy's :%d%s):\n", window, contract.ProxyAdminPort, contract.MetricsPath)
	for i, r := range second {
		if r.Err != nil || first[i].Err != nil {
			fmt.Printf("  %-45s (unreadable: %v)\n", r.Pod.Name, errors.Join(r.Err, first[i].Err))
			continue
		}
		d := r.Report.Inbound.Since(first[i].Report.Inbound)
		p99 := "-"
		if q := d.Quantile(0.99); !math.IsNaN(q) {
			p99 = time.Duration(q * float64(time.Second)).Round(10 * time.Microsecond).String()
		}
		fmt.Printf("  %-45s proxy %-6s %6.1f req/s  success %6.2f%%  p99 %-8s anchors %s\n", r.Pod.Name, r.Report.Version,
			d.Requests/window.Seconds(), 100*d.SuccessRate(), p99, strings.Join(shortAll(r.Report.TrustAnchors), ","))
	}
}

func shortAll(fps []string) []string {
	out := make([]string, 0, len(fps))
	for _, fp := range fps {
		if len(fp) > 12 {
			fp = fp[:12]
		}
		out = append(out, fp)
	}
	return out
}
