package proxymetrics

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
)

// TestScrapeOverHTTP serves a proxy's exposition on loopback at the admin
// port of a second loopback address when one is free, else skips.
func TestScrapeOverHTTP(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.ProxyAdminPort))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("admin port busy on loopback: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != c.MetricsPath {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(c.MetricBuildInfo + `{version="0.1.0",trust_anchors="a",issuer="i"} 1` + "\n"))
	}))
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	pods := []corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "up"}, Status: corev1.PodStatus{PodIP: "127.0.0.1"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "no-ip"}},
	}
	got := NewScraper().Scrape(context.Background(), pods)
	if got[0].Err != nil || got[0].Report.Version != "0.1.0" || got[0].Pod.Name != "up" {
		t.Fatalf("scrape of a live proxy: %+v", got[0])
	}
	if got[1].Err == nil {
		t.Fatal("a pod without an IP must report an error")
	}
}
