package proxymetrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
)

func TestLimitBodyRefusesOneBytePastTheLimit(t *testing.T) {
	for _, tc := range []struct {
		size    int
		wantErr bool
	}{{0, false}, {10, false}, {11, true}, {1 << 20, true}} {
		got, err := io.ReadAll(LimitBody(io.NopCloser(strings.NewReader(strings.Repeat("x", tc.size))), 10))
		if tc.wantErr != errors.Is(err, ErrBodyTooLarge) {
			t.Fatalf("%d bytes: err %v", tc.size, err)
		}
		if !tc.wantErr && len(got) != tc.size {
			t.Fatalf("%d bytes: read %d", tc.size, len(got))
		}
	}
}

// scraperFor points a scraper at a loopback test server standing in for a pod's admin port.
func scraperFor(t *testing.T, h http.HandlerFunc) (*Scraper, corev1.Pod) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	s := NewScraper()
	s.port, _ = strconv.Atoi(port)
	return s, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "p"}, Status: corev1.PodStatus{PodIP: host}}
}

// An endless body (a fast fake, or a proxy gone wrong) is cut at
// MaxBodyBytes with an error naming the pod's address, not parsed truncated.
func TestScrapeRefusesAnEndlessBody(t *testing.T) {
	s, pod := scraperFor(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(c.MetricBuildInfo + `{version="0.1.0",trust_anchors="a",issuer="i"} 1` + "\n"))
		line := []byte("# filler " + strings.Repeat("x", 4000) + "\n") // a comment, valid to repeat
		for r.Context().Err() == nil {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	})
	got := s.Scrape(context.Background(), []corev1.Pod{pod})[0]
	if !errors.Is(got.Err, ErrBodyTooLarge) || !strings.Contains(got.Err.Error(), pod.Status.PodIP) {
		t.Fatalf("endless body: err %v", got.Err)
	}
}

// A proxy that accepts and never answers costs one request timeout.
func TestScrapeGivesUpOnAProxyThatNeverAnswers(t *testing.T) {
	s, pod := scraperFor(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	s.Client.Timeout = 200 * time.Millisecond
	got := s.Scrape(context.Background(), []corev1.Pod{pod})[0]
	var ne net.Error
	if !errors.As(got.Err, &ne) || !ne.Timeout() {
		t.Fatalf("silent proxy: err %v, want a timeout", got.Err)
	}
}

// The whole Scrape is bounded by its deadline even when requests are not.
func TestScrapeDeadlineBoundsAllPods(t *testing.T) {
	s, pod := scraperFor(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // headers, then a body that never comes
	})
	s.Client.Timeout, s.Deadline, s.Parallel = 0, 300*time.Millisecond, 1
	pods := []corev1.Pod{pod, pod, pod}
	for i, got := range s.Scrape(context.Background(), pods) {
		if !errors.Is(got.Err, context.DeadlineExceeded) {
			t.Fatalf("pod %d: err %v, want the scrape deadline", i, got.Err)
		}
	}
}
