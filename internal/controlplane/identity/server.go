package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// MaxRequestBytes bounds a certify request; a P-256 CSR plus a token fit in a few KiB.
const MaxRequestBytes = 64 << 10

// MaxLeafTTL is the longest workload certificate lifetime the service issues.
const MaxLeafTTL = contract.MaxLeafTTL

// DefaultBodyTimeout bounds how long a caller may take to send its request
// body, so slow senders cannot hold connections and goroutines.
const DefaultBodyTimeout = 10 * time.Second

// Config configures a Server. Reviewer and Issuer are required.
type Config struct {
	TrustDomain string
	// LeafTTL is the lifetime of workload and serving certificates (capped by the issuer's).
	LeafTTL time.Duration
	// Clock defaults to the real clock.
	Clock    clock.PassiveClock
	Reviewer TokenReviewer
	Issuer   IssuerSource
	// ServingDNSNames go into the server's own certificate; see ServingDNSNames.
	ServingDNSNames []string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics; nil uses a private registry.
	Registerer prometheus.Registerer
	// CallerRate and CallerBurst limit certify requests per caller address;
	// zero uses DefaultCallerRate and DefaultCallerBurst.
	CallerRate  rate.Limit
	CallerBurst int
	// BodyTimeout defaults to DefaultBodyTimeout.
	BodyTimeout time.Duration
}

// Server answers certify requests over HTTPS with a certificate it issues itself.
type Server struct {
	cfg     Config
	serving *ServingCert
	metrics *metrics
	callers *callerLimiter
}

// NewServer validates cfg and builds a Server.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Reviewer == nil || cfg.Issuer == nil {
		return nil, errors.New("identity: Reviewer and Issuer are required")
	}
	if cfg.TrustDomain == "" || cfg.LeafTTL <= 0 {
		return nil, errors.New("identity: TrustDomain and a positive LeafTTL are required")
	}
	if cfg.LeafTTL > MaxLeafTTL {
		return nil, fmt.Errorf("identity: LeafTTL %s is above the maximum %s", cfg.LeafTTL, MaxLeafTTL)
	}
	if cfg.CallerRate <= 0 {
		cfg.CallerRate = DefaultCallerRate
	}
	if cfg.CallerBurst <= 0 {
		cfg.CallerBurst = DefaultCallerBurst
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
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
	m, err := newMetrics(cfg.Registerer, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("identity metrics: %w", err)
	}
	return &Server{
		cfg:     cfg,
		serving: NewServingCert(cfg.Issuer, cfg.Clock, cfg.LeafTTL, cfg.ServingDNSNames),
		metrics: m,
		callers: newCallerLimiter(cfg.CallerRate, cfg.CallerBurst),
	}, nil
}

// ServingCert is the certificate the server presents; the discovery service shares it.
func (s *Server) ServingCert() *ServingCert { return s.serving }

// Ready fails until an issuer is loaded.
func (s *Server) Ready() error {
	if s.cfg.Issuer.Current() == nil {
		return errors.New("no issuer loaded")
	}
	return nil
}

// Handler routes contract.IdentityPath.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+contract.IdentityPath, s.certify)
	return mux
}

// Serve serves HTTPS on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return ServeTLS(ctx, ln, s.Handler(), s.serving)
}

// ServeTLS serves handler over TLS with cert's certificate until ctx ends.
func ServeTLS(ctx context.Context, ln net.Listener, handler http.Handler, cert *ServingCert) error {
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         cert.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	stop := context.AfterFunc(ctx, func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	})
	defer stop()
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// httpError is a refusal with its status and metric reason.
type httpError struct {
	status int
	reason string
	err    error
}

func (s *Server) certify(w http.ResponseWriter, r *http.Request) {
	resp, herr := s.admit(w, r)
	if herr == nil {
		resp, herr = s.handleCertify(r)
	}
	if herr != nil {
		s.metrics.refused.WithLabelValues(herr.reason).Inc()
		s.cfg.Logger.Info("certify refused", "remote", r.RemoteAddr, "status", herr.status, "reason", herr.reason, "error", herr.err)
		http.Error(w, herr.err.Error(), herr.status)
		return
	}
	s.metrics.issued.Inc()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// admit refuses a caller over its rate before any work (a TokenReview costs
// the API server), and bounds how long the body may take to arrive.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (*contract.CertifyResponse, *httpError) {
	now := s.cfg.Clock.Now()
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !s.callers.allow(host, now) {
		return nil, &httpError{http.StatusTooManyRequests, reasonRateLimited, errors.New("too many certify requests from this address; retry later")}
	}
	// Real time, not the injected clock: this is a socket deadline.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	return nil, nil
}

func (s *Server) handleCertify(r *http.Request) (*contract.CertifyResponse, *httpError) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxRequestBytes))
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			return nil, &httpError{http.StatusRequestEntityTooLarge, reasonBadRequest, err}
		}
		return nil, &httpError{http.StatusBadRequest, reasonBadRequest, err}
	}
	req, err := ParseCertifyRequest(body)
	if err != nil {
		return nil, &httpError{http.StatusBadRequest, reasonBadRequest, err}
	}
	review, err := s.cfg.Reviewer.Review(r.Context(), req.Token)
	if err != nil {
		return nil, &httpError{http.StatusServiceUnavailable, reasonReviewFailed, errors.New("token review unavailable")}
	}
	ns, sa, err := WorkloadFromReview(review)
	switch {
	case errors.Is(err, errUnauthenticated):
		return nil, &httpError{http.StatusUnauthorized, reasonUnauthenticated, err}
	case err != nil:
		return nil, &httpError{http.StatusForbidden, reasonForbidden, err}
	}
	issuer := s.cfg.Issuer.Current()
	if issuer == nil {
		return nil, &httpError{http.StatusServiceUnavailable, reasonNoIssuer, errors.New("no issuer loaded yet")}
	}
	id, err := url.Parse(contract.SPIFFEID(s.cfg.TrustDomain, ns, sa))
	if err != nil {
		return nil, &httpError{http.StatusForbidden, reasonForbidden, err}
	}
	leaf, err := IssueLeaf(issuer, LeafTemplate{PublicKey: req.CSR.PublicKey, URI: id, Now: s.cfg.Clock.Now(), TTL: s.cfg.LeafTTL})
	if err != nil {
		return nil, &httpError{http.StatusServiceUnavailable, reasonSignFailed, err}
	}
	s.cfg.Logger.Info("certificate issued", "identity", id.String(), "notAfter", leaf.Cert.NotAfter, "issuer", issuer.Fingerprint)
	return &contract.CertifyResponse{CertificateChain: string(leaf.ChainPEM), NotAfter: leaf.Cert.NotAfter}, nil
}
