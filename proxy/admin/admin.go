// Package admin serves the proxy's admin endpoints: golden metrics, and the
// readiness and liveness probes kubelet uses for the native sidecar.
package admin

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// Handler routes the admin paths; ready returns nil once the proxy can serve.
// probes are the app's HTTP probes moved here by the injector, performed
// against the app at podIP. The port is reachable by every pod, so only
// what Prometheus and the kubelet need answers from anywhere (Public);
// anything else answers only on loopback.
func Handler(reg *prometheus.Registry, ready func() error, probes map[string]contract.AppProbe, podIP string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+contract.AppProbePathPrefix, appProbes(probes, podIP))
	mux.Handle("GET "+contract.MetricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET "+contract.ReadyPath, func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET "+contract.LivePath, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("live\n"))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Public(r.Method, r.URL.Path, probes) && !fromLoopback(r.RemoteAddr) {
			http.Error(w, "forbidden: only metrics and probes are served off loopback", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Public reports whether a request may come from anywhere: a GET (or HEAD)
// of the metrics, the proxy's probes, or one of the app probes the injector
// rewrote.
func Public(method, path string, probes map[string]contract.AppProbe) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	switch path {
	case contract.MetricsPath, contract.ReadyPath, contract.LivePath:
		return true
	}
	_, ok := probes[path]
	return ok && strings.HasPrefix(path, contract.AppProbePathPrefix)
}

func fromLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
