package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsOutcomes(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%4 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()

	s, err := Run(context.Background(), Config{Target: srv.URL, RPS: 200, Duration: time.Second, Concurrency: 50, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.Sent+s.Dropped != 200 {
		t.Fatalf("sent %d + dropped %d, want 200 starts", s.Sent, s.Dropped)
	}
	if int64(s.Sent) != n.Load() {
		t.Fatalf("sent %d but server saw %d", s.Sent, n.Load())
	}
	if s.StatusCodes["503"] != s.Sent/4 || s.Failures != s.StatusCodes["503"] || s.Successes != s.StatusCodes["200"] {
		t.Fatalf("classification wrong: %+v", s)
	}
	if s.TLSErrors != 0 {
		t.Fatalf("no TLS involved, got %d TLS errors", s.TLSErrors)
	}
}

func TestRunClassifiesTLSErrors(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	// The client does not trust httptest's certificate: every request is a TLS error.
	s, err := Run(context.Background(), Config{Target: srv.URL, RPS: 20, Duration: 500 * time.Millisecond, Concurrency: 5, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.Sent == 0 || s.TLSErrors != s.Sent || s.Failures != s.Sent {
		t.Fatalf("want every request to be a TLS failure: %+v", s)
	}
}

func TestRunRefusesUnboundedConfig(t *testing.T) {
	for _, c := range []Config{
		{Target: "http://x", RPS: 10, Duration: 2 * time.Hour, Concurrency: 1, Timeout: time.Second},
		{Target: "http://x", RPS: 0, Duration: time.Second, Concurrency: 1, Timeout: time.Second},
		{RPS: 10, Duration: time.Second, Concurrency: 1, Timeout: time.Second},
	} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}
