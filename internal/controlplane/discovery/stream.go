package discovery

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// writeTimeout drops a watcher that cannot take one line in this long.
const writeTimeout = 30 * time.Second

// keepAliveLine is written when nothing changed for a keep-alive interval.
var keepAliveLine = []byte("\n")

// StreamConfig configures the stream handler.
type StreamConfig struct {
	// KeepAlive defaults to contract.DiscoveryKeepAlive.
	KeepAlive time.Duration
	// Clock defaults to the real clock.
	Clock  clock.WithTicker
	Logger *slog.Logger
	// Registerer receives the metrics; nil uses a private registry.
	Registerer prometheus.Registerer
}

// StreamHandler serves contract.DiscoveryPath from a Broadcaster.
type StreamHandler struct {
	cfg      StreamConfig
	b        *Broadcaster
	watchers prometheus.Gauge
}

// NewStreamHandler builds the handler and registers its metrics.
func NewStreamHandler(b *Broadcaster, cfg StreamConfig) (*StreamHandler, error) {
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = contract.DiscoveryKeepAlive
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	watchers := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "meshkeeper_discovery_watchers",
		Help: "Discovery streams open now.",
	})
	if err := cfg.Registerer.Register(watchers); err != nil {
		return nil, err
	}
	return &StreamHandler{cfg: cfg, b: b, watchers: watchers}, nil
}

// Handler routes GET contract.DiscoveryPath.
func (h *StreamHandler) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+contract.DiscoveryPath, h)
	return mux
}

// ServeHTTP streams the latest snapshot, then each newer one, until the client leaves.
func (h *StreamHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	notify, cancel := h.b.Subscribe()
	defer cancel()
	latest := h.b.Latest()
	if latest == nil {
		http.Error(w, "discovery has not synced yet", http.StatusServiceUnavailable)
		return
	}
	h.watchers.Inc()
	defer h.watchers.Dec()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)

	send := func(line []byte) bool {
		_ = rc.SetWriteDeadline(h.cfg.Clock.Now().Add(writeTimeout))
		if _, err := w.Write(line); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(latest.Line) {
		return
	}
	sent := latest.Snapshot.Revision
	keepAlive := h.cfg.Clock.NewTicker(h.cfg.KeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-notify:
			if cur := h.b.Latest(); cur.Snapshot.Revision > sent {
				if !send(cur.Line) {
					h.cfg.Logger.Debug("discovery watcher dropped", "remote", r.RemoteAddr)
					return
				}
				sent = cur.Snapshot.Revision
			}
		case <-keepAlive.C():
			if !send(keepAliveLine) {
				return
			}
		}
	}
}
