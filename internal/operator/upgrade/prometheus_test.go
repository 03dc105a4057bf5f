package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/operator/proxymetrics"
)

// fakePrometheus answers /api/v1/query like Prometheus does, from the first
// rule whose substring the query contains.
type fakePrometheus struct {
	mu      sync.Mutex
	rules   []rule
	queries []string
	times   []string
}

type rule struct {
	contains string
	// result is the JSON "data" object, or "error:<type>" for an error answer.
	result string
}

func vector(values ...string) string {
	var samples []string
	for _, v := range values {
		samples = append(samples, `{"metric":{},"value":[1700000000,"`+v+`"]}`)
	}
	return `{"resultType":"vector","result":[` + strings.Join(samples, ",") + `]}`
}

func (f *fakePrometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	q := r.FormValue("query")
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.times = append(f.times, r.FormValue("time"))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	for _, rl := range f.rules {
		if !strings.Contains(q, rl.contains) {
			continue
		}
		if typ, ok := strings.CutPrefix(rl.result, "error:"); ok {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": typ, "error": "parse error"})
			return
		}
		_, _ = w.Write([]byte(`{"status":"success","data":` + rl.result + `}`))
		return
	}
	_, _ = w.Write([]byte(`{"status":"success","data":` + vector() + `}`))
}

func TestPrometheusSourceMeasures(t *testing.T) {
	fake := &fakePrometheus{rules: []rule{
		{`classification="failure"`, vector("12")},
		{"histogram_quantile", vector("0.042")},
		{"meshkeeper_proxy_requests_total", vector("1200")},
		{"queue_depth", `{"resultType":"scalar","result":[1700000000,"7"]}`},
		{"error_budget", vector("0.5")},
		{"two_series", vector("1", "2")},
		{"broken(", "error:bad_data"},
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	src, err := NewPrometheusSource(&meshv1.PrometheusGate{URL: srv.URL, Checks: []meshv1.PromQLCheck{
		{Name: "queue", Query: `max(queue_depth{namespace=~"$namespaces"})`, Max: "10"},
		{Name: "budget", Query: `error_budget[$window]`, Min: "0.6", Max: "1"},
		{Name: "ambiguous", Query: `two_series`},
		{Name: "typo", Query: `broken(`},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	m, err := src.Measure(context.Background(), []string{"shop", "pay"}, 90*time.Second, at)
	if err != nil {
		t.Fatal(err)
	}
	if m.Requests != 1200 || m.SuccessRate != 0.99 || !m.HasLatency || m.P99 != 42*time.Millisecond {
		t.Fatalf("golden metrics %+v", m)
	}
	wantChecks := []struct {
		name    string
		passed  bool
		mention string
	}{
		{"queue", true, "value 7 within bounds <= 10"},
		{"budget", false, "value 0.5 outside bounds >= 0.6 and <= 1"},
		{"ambiguous", false, "returned 2 values"},
		{"typo", false, "query rejected"},
	}
	if len(m.Checks) != len(wantChecks) {
		t.Fatalf("checks %+v", m.Checks)
	}
	for i, w := range wantChecks {
		c := m.Checks[i]
		if c.Name != w.name || c.Passed != w.passed || !strings.Contains(c.Message, w.mention) {
			t.Errorf("check %d = %+v, want %s passed=%v mentioning %q", i, c, w.name, w.passed, w.mention)
		}
	}
	joined := strings.Join(fake.queries, "\n")
	for _, s := range []string{
		`sum(increase(meshkeeper_proxy_requests_total{direction="inbound",namespace=~"shop|pay"}[90s]))`,
		`histogram_quantile(0.99, sum by (le) (increase(meshkeeper_proxy_request_duration_seconds_bucket{direction="inbound",namespace=~"shop|pay"}[90s])))`,
		`max(queue_depth{namespace=~"shop|pay"})`,
		`error_budget[90s]`,
	} {
		if !strings.Contains(joined, s) {
			t.Errorf("no query %s among:\n%s", s, joined)
		}
	}
	if !strings.HasPrefix(fake.times[0], strconv.FormatInt(at.Unix(), 10)) {
		t.Errorf("queries must be evaluated at the given time, got %q", fake.times[0])
	}
	v := Judge(Thresholds{MinSuccessRate: 0.99, MinRequests: 100}, m, nil)
	if v.Passed || v.Reason != ReasonCheckFailed || !strings.Contains(v.Message, "check budget") {
		t.Fatalf("verdict %+v", v)
	}
}

func TestPrometheusSourceIdleAndErrors(t *testing.T) {
	fake := &fakePrometheus{rules: []rule{{"histogram_quantile", vector("NaN")}}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	src, err := NewPrometheusSource(&meshv1.PrometheusGate{URL: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.Measure(context.Background(), []string{"shop"}, time.Minute, time.Now())
	if err != nil || m.Requests != 0 || m.SuccessRate != 1 || m.HasLatency {
		t.Fatalf("no series means no traffic: %+v %v", m, err)
	}
	if m, err := src.Measure(context.Background(), nil, time.Minute, time.Now()); err != nil || m.SuccessRate != 1 || len(fake.queries) != 3 {
		t.Fatalf("no namespaces: no query, idle measurement: %+v %v (%d queries)", m, err, len(fake.queries))
	}
	srv.Close()
	if _, err := src.Measure(context.Background(), []string{"shop"}, time.Minute, time.Now()); err == nil {
		t.Fatal("an unreachable Prometheus must be an error, not an idle window")
	}
	if _, err := NewPrometheusSource(nil, nil); err == nil {
		t.Fatal("nil config accepted")
	}
}

func TestPromHelpers(t *testing.T) {
	if got := NamespaceRegex([]string{"a", "b.c"}); got != `a|b\.c` {
		t.Errorf("NamespaceRegex = %q", got)
	}
	for d, want := range map[time.Duration]string{time.Minute: "60s", 1500 * time.Millisecond: "2s", 0: "1s"} {
		if got := PromDuration(d); got != want {
			t.Errorf("PromDuration(%s) = %s, want %s", d, got, want)
		}
	}
}

// A Prometheus URL that streams an endless answer is refused at
// proxymetrics.MaxBodyBytes, not read into memory.
func TestPrometheusSourceRefusesAnEndlessAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[`))
		sample := []byte(`{"metric":{"pod":"` + strings.Repeat("x", 4000) + `"},"value":[1700000000,"1"]},`)
		for r.Context().Err() == nil {
			if _, err := w.Write(sample); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	src, err := NewPrometheusSource(&meshv1.PrometheusGate{URL: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Measure(context.Background(), []string{"shop"}, time.Minute, time.Now())
	if !errors.Is(err, proxymetrics.ErrBodyTooLarge) {
		t.Fatalf("endless answer: err %v", err)
	}
}

// A Prometheus that accepts and never answers costs one QueryTimeout.
func TestPrometheusSourceGivesUpOnASilentServer(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop) // before Close: a cancelled client may leave its connection open
	src, err := NewPrometheusSource(&meshv1.PrometheusGate{URL: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if src.QueryTimeout != DefaultQueryTimeout {
		t.Fatalf("query timeout %s, want %s", src.QueryTimeout, DefaultQueryTimeout)
	}
	src.QueryTimeout = 200 * time.Millisecond
	_, err = src.Measure(context.Background(), []string{"shop"}, time.Minute, time.Now())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent Prometheus: err %v, want the query deadline", err)
	}
}
