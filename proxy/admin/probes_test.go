package admin

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// TestAppProbesAreForwardedToTheApp plays a strict pod: the kubelet probes the
// admin port and gets the app's own answer.
func TestAppProbesAreForwardedToTheApp(t *testing.T) {
	healthy := true
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		if !healthy {
			http.Error(w, "sick", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer app.Close()
	host, port, _ := net.SplitHostPort(app.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	probes := map[string]contract.AppProbe{"/app-health/web/readiness": {Port: int32(p), Path: "/healthz"}}
	admin := httptest.NewServer(Handler(prometheus.NewRegistry(), func() error { return nil }, probes, host))
	defer admin.Close()

	get := func(path string) int {
		resp, err := http.Get(admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/app-health/web/readiness"); code != http.StatusOK {
		t.Fatalf("healthy app: probe answered %d", code)
	}
	healthy = false
	if code := get("/app-health/web/readiness"); code != http.StatusInternalServerError {
		t.Fatalf("sick app: probe answered %d, want the app's 500", code)
	}
	if code := get("/app-health/web/liveness"); code != http.StatusNotFound {
		t.Fatalf("unknown probe path answered %d", code)
	}
	app.Close()
	if code := get("/app-health/web/readiness"); code != http.StatusServiceUnavailable {
		t.Fatalf("unreachable app: probe answered %d, want 503", code)
	}
}
