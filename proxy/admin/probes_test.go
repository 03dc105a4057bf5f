package admin

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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
			http.Error(w, "sick: db password rejected for user admin", http.StatusInternalServerError)
			return
		}
		w.Header().Set("X-App-Internal", "build 1234")
		_, _ = w.Write([]byte("ok: db=10.0.0.7 cache=warm"))
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
		defer resp.Body.Close()
		// A status, not the app's answer: its body and headers stay inside the pod.
		body, _ := io.ReadAll(resp.Body)
		for _, leak := range []string{"db", "10.0.0.7", "127.0.0.1", host} {
			if strings.Contains(string(body), leak) {
				t.Errorf("%s: probe answer %q leaks %q", path, body, leak)
			}
		}
		if resp.Header.Get("X-App-Internal") != "" {
			t.Errorf("%s: probe answer carries the app's headers", path)
		}
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

// TestOnlyMetricsAndProbesOffLoopback: the admin port answers Prometheus and
// the kubelet from anywhere, and nothing else but to loopback clients.
func TestOnlyMetricsAndProbesOffLoopback(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer app.Close()
	host, port, _ := net.SplitHostPort(app.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	probes := map[string]contract.AppProbe{"/app-health/web/liveness": {Port: int32(p), Path: "/"}}
	h := Handler(prometheus.NewRegistry(), func() error { return nil }, probes, host)
	for _, tc := range []struct {
		method, path, remote string
		want                 int
	}{
		{"GET", "/metrics", "10.1.2.3:40000", http.StatusOK},
		{"GET", "/ready", "10.1.2.3:40000", http.StatusOK},
		{"HEAD", "/live", "[fd00::5]:40000", http.StatusOK},
		{"GET", "/app-health/web/liveness", "10.1.2.3:40000", http.StatusOK},
		{"GET", "/app-health/web/readiness", "10.1.2.3:40000", http.StatusForbidden}, // not a rewritten probe
		{"GET", "/debug/pprof/", "10.1.2.3:40000", http.StatusForbidden},
		{"POST", "/metrics", "10.1.2.3:40000", http.StatusForbidden},
		{"GET", "/", "[fd00::5]:40000", http.StatusForbidden},
		{"GET", "/", "[::ffff:10.1.2.3]:40000", http.StatusForbidden},
		// Loopback clients get the ordinary answers.
		{"GET", "/app-health/web/readiness", "127.0.0.1:40000", http.StatusNotFound},
		{"GET", "/", "[::1]:40000", http.StatusNotFound},
		{"POST", "/metrics", "[::ffff:127.0.0.1]:40000", http.StatusMethodNotAllowed},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		req.RemoteAddr = tc.remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s %s from %s: %d, want %d", tc.method, tc.path, tc.remote, rec.Code, tc.want)
		}
	}
}
