// Package admin serves the proxy's admin endpoints: golden metrics, and the
// readiness and liveness probes kubelet uses for the native sidecar.
package admin

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// Handler routes the admin paths; ready returns nil once the proxy can serve.
// probes are the app's HTTP probes moved here by the injector, performed
// against the app at podIP.
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
	return mux
}
