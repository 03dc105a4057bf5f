package identity

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func TestCertifyIsRateLimitedPerCaller(t *testing.T) {
	ca := newTestCA(t, "one", time.Now().Add(48*time.Hour))
	lb := startLoopback(t, ca, time.Hour)
	body := requestJSON(t, csrPEM(t, mustKey(t)), "web-token")
	for i := range DefaultCallerBurst {
		if status, out := lb.post(t, body); status != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i, status, out)
		}
	}
	// The clock is fake and stands still, so the bucket does not refill.
	if status, _ := lb.post(t, body); status != http.StatusTooManyRequests {
		t.Fatalf("request over the burst: status %d, want 429", status)
	}
	lb.clock.SetTime(lb.clock.Now().Add(time.Duration(float64(time.Second) / float64(DefaultCallerRate))))
	if status, out := lb.post(t, body); status != http.StatusOK {
		t.Fatalf("after the bucket refilled one token: %d %s", status, out)
	}
}

func TestCallerLimiterKeepsCallersApart(t *testing.T) {
	l := newCallerLimiter(1, 1)
	now := time.Now()
	if !l.allow("198.18.10.1", now) || l.allow("198.18.10.1", now) {
		t.Fatal("first caller: want one allowed, then refused")
	}
	if !l.allow("198.18.10.2", now) {
		t.Fatal("a second caller must not pay for the first")
	}
	for i := range maxCallers + 10 {
		l.allow(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), now.Add(time.Hour))
	}
	if len(l.callers) > maxCallers {
		t.Fatalf("limiter table grew to %d, cap %d", len(l.callers), maxCallers)
	}
}

func TestSlowRequestBodyIsCutOff(t *testing.T) {
	ca := newTestCA(t, "one", time.Now().Add(48*time.Hour))
	lb := startLoopback(t, ca, time.Hour)
	lb.server.cfg.BodyTimeout = 200 * time.Millisecond
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	go func() { _, _ = pw.Write([]byte(`{"csr":"`)) }() // then nothing more
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, lb.url+contract.IdentityPath, pr)
	start := time.Now()
	resp, err := lb.client.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("a request whose body never finished was answered 200")
		}
	}
	// The bound is what matters: without the deadline this waits for the client's 10 s timeout.
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("slow body held the request for %v", waited)
	}
}

func TestLeafTTLAboveMaximumIsRefused(t *testing.T) {
	ca := newTestCA(t, "one", time.Now().Add(48*time.Hour))
	_, err := NewServer(Config{TrustDomain: testTrustDomain, LeafTTL: MaxLeafTTL + time.Second, Reviewer: testReviewer,
		Issuer: NewStaticIssuer(ca.issuer), Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "maximum") {
		t.Fatalf("err = %v, want a refusal naming the maximum", err)
	}
}
