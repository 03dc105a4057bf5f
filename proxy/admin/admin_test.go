package admin_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/admin"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "probe_total"}))
	var readyErr = errors.New("no certificate yet")
	h := admin.Handler(reg, func() error { return readyErr }, nil, "")
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(contract.ReadyPath); code != http.StatusServiceUnavailable || !strings.Contains(body, "no certificate") {
		t.Fatalf("ready before cert: %d %q", code, body)
	}
	readyErr = nil
	if code, _ := get(contract.ReadyPath); code != http.StatusOK {
		t.Fatalf("ready after cert: %d", code)
	}
	if code, _ := get(contract.LivePath); code != http.StatusOK {
		t.Fatalf("live: %d", code)
	}
	if code, body := get(contract.MetricsPath); code != http.StatusOK || !strings.Contains(body, "probe_total 0") {
		t.Fatalf("metrics: %d %q", code, body)
	}
}
