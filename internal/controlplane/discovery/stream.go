package discovery

import (
	"errors"
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

// Watcher caps. A proxy keeps one stream (two while it reconnects), so a pod
// address needs few; the total bounds what a flood of authenticated callers costs.
const (
	DefaultMaxWatchers      = 10000
	DefaultMaxWatchersPerIP = 4
)

// StreamConfig configures the stream handler.
type StreamConfig struct {
	// Auth is required: discovery tells every meshed pod's address and
	// identity, so only mesh members may watch.
	Auth Authenticator
	// MaxWatchers and MaxWatchersPerIP default to the constants above.
	MaxWatchers, MaxWatchersPerIP int
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
	refused  *prometheus.CounterVec
	slots    *slots
}

// NewStreamHandler builds the handler and registers its metrics.
func NewStreamHandler(b *Broadcaster, cfg StreamConfig) (*StreamHandler, error) {
	if cfg.Auth == nil {
		return nil, errors.New("discovery: an Authenticator is required")
	}
	if cfg.MaxWatchers <= 0 {
		cfg.MaxWatchers = DefaultMaxWatchers
	}
	if cfg.MaxWatchersPerIP <= 0 {
		cfg.MaxWatchersPerIP = DefaultMaxWatchersPerIP
	}
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
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshkeeper_discovery_refused_total",
		Help: "Discovery watch requests refused, by reason.",
	}, []string{"reason"})
	for _, c := range []prometheus.Collector{watchers, refused} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, err
		}
	}
	return &StreamHandler{cfg: cfg, b: b, watchers: watchers, refused: refused,
		slots: newSlots(cfg.MaxWatchers, cfg.MaxWatchersPerIP)}, nil
}

// Handler routes GET contract.DiscoveryPath.
func (h *StreamHandler) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+contract.DiscoveryPath, h)
	return mux
}

// ServeHTTP streams the latest snapshot, then each newer one, until the client leaves.
func (h *StreamHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := h.cfg.Auth.Authenticate(r)
	if err != nil {
		h.refuse(w, r, "unauthenticated", http.StatusUnauthorized, err)
		return
	}
	release, err := h.slots.take(remoteIP(r.RemoteAddr))
	if err != nil {
		h.refuse(w, r, "too_many_watchers", http.StatusTooManyRequests, err)
		return
	}
	defer release()
	h.cfg.Logger.Debug("discovery watcher opened", "remote", r.RemoteAddr, "identity", id)
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

// refuse answers a refused watch and counts it.
func (h *StreamHandler) refuse(w http.ResponseWriter, r *http.Request, reason string, code int, err error) {
	h.refused.WithLabelValues(reason).Inc()
	h.cfg.Logger.Info("discovery watch refused", "remote", r.RemoteAddr, "reason", reason, "error", err)
	http.Error(w, err.Error(), code)
}
