package kubectlplugin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// A proxy that is shutting down accepts the API server's proxied request and
// never answers; one such pod must not hold check for the client's 30 s.
func TestPodProxyBoundsASilentProxy(t *testing.T) {
	hit := make(chan string, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hit <- r.URL.Path
		<-r.Context().Done()
	}))
	defer api.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-1"}}
	done := make(chan error, 1)
	go func() {
		_, err := PodProxy{Client: cs, Timeout: 50 * time.Millisecond}.Metrics(context.Background(), pod)
		done <- err
	}()
	if p := <-hit; !strings.HasSuffix(p, "/namespaces/ns/pods/http:web-1:4191/proxy/metrics") {
		t.Errorf("path %s", p)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a proxy that never answered gave metrics")
		}
	case <-time.After(20 * time.Second): // a hang, not a latency bound
		t.Fatal("Metrics still waiting for a silent proxy")
	}
}
