package httpfwd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// scripted answers each attempt from a list and records the targets it saw.
type scripted struct {
	answers []func() (*http.Response, error)
	targets []string
}

func (s *scripted) RoundTrip(r *http.Request) (*http.Response, error) {
	s.targets = append(s.targets, upstream.TargetFrom(r.Context()).Addr.String())
	a := s.answers[0]
	if len(s.answers) > 1 {
		s.answers = s.answers[1:]
	}
	return a()
}

func ok() (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Header: http.Header{}}, nil
}

func refused() (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Err: errors.New("connection refused")}
}

// timedOut is a connect to a vanished pod as the transport reports it: the
// dialer's timeout, wrapped by the layers above it.
func timedOut() (*http.Response, error) {
	return nil, fmt.Errorf("http2: client conn could not be established: %w",
		&net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{}})
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// broken is an exchange that failed after the request went out.
func broken() (*http.Response, error) {
	return nil, &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}
}

func appGone() (*http.Response, error) {
	h := http.Header{}
	h.Set(ProxyErrorHeader, AppUnavailable)
	return &http.Response{StatusCode: http.StatusBadGateway, Body: io.NopCloser(strings.NewReader("")), Header: h}, nil
}

func appReset() (*http.Response, error) {
	h := http.Header{}
	h.Set(ProxyErrorHeader, AppNoResponse)
	return &http.Response{StatusCode: http.StatusBadGateway, Body: io.NopCloser(strings.NewReader("")), Header: h}, nil
}

func plain502() (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusBadGateway, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}}, nil
}

func TestRetryingMovesToAnotherEndpoint(t *testing.T) {
	cases := []struct {
		name     string
		method   string
		body     io.Reader
		answers  []func() (*http.Response, error)
		attempts int
		status   int
	}{
		{"GET on a refused connection", http.MethodGet, nil, []func() (*http.Response, error){refused, ok}, 2, 200},
		{"GET whose connect timed out", http.MethodGet, nil, []func() (*http.Response, error){timedOut, ok}, 2, 200},
		{"HEAD whose connect timed out", http.MethodHead, nil, []func() (*http.Response, error){timedOut, ok}, 2, 200},
		{"peer proxy says its app is gone", http.MethodPost, nil, []func() (*http.Response, error){appGone, ok}, 2, 200},
		{"POST on a refused connection is retried: nothing was sent", http.MethodPost, nil, []func() (*http.Response, error){refused, ok}, 2, 200},
		{"POST whose exchange failed after sending is not retried", http.MethodPost, nil, []func() (*http.Response, error){broken, ok}, 1, 0},
		{"a small body in memory is sent again", http.MethodPut, strings.NewReader("x"), []func() (*http.Response, error){appGone, ok}, 2, 200},
		{"an app's own 502 is its answer", http.MethodGet, nil, []func() (*http.Response, error){plain502, ok}, 1, 502},
		{"attempts are bounded", http.MethodGet, nil, []func() (*http.Response, error){refused}, maxAttempts, 0},
		{"GET the peer's app reset before answering", http.MethodGet, nil, []func() (*http.Response, error){appReset, ok}, 2, 200},
		{"HEAD the peer's app reset before answering", http.MethodHead, nil, []func() (*http.Response, error){appReset, ok}, 2, 200},
		{"POST the peer's app reset is never replayed", http.MethodPost, nil, []func() (*http.Response, error){appReset, ok}, 1, 502},
		{"PATCH the peer's app reset is never replayed", http.MethodPatch, nil, []func() (*http.Response, error){appReset, ok}, 1, 502},
		{"an unknown marker is an answer", http.MethodGet, nil, []func() (*http.Response, error){badMarker, ok}, 1, 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := &scripted{answers: tc.answers}
			n := 0
			rt, _ := newTestRetrying(next, func(*http.Request) discovery.Target {
				n++
				return discovery.Target{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 10, byte(1 + n)}), 8080), Identity: peerID}
			})
			req, _ := http.NewRequest(tc.method, "http://backend/", tc.body)
			req = req.WithContext(upstream.WithTarget(req.Context(), discovery.Target{Addr: netip.MustParseAddrPort("198.18.10.1:8080"), Identity: peerID}))
			resp, err := rt.RoundTrip(req)
			if len(next.targets) != tc.attempts {
				t.Fatalf("attempts %d (%v), want %d", len(next.targets), next.targets, tc.attempts)
			}
			if tc.attempts > 1 && next.targets[0] == next.targets[1] {
				t.Fatalf("retried the same endpoint %v", next.targets)
			}
			status := 0
			if err == nil {
				status = resp.StatusCode
			}
			if status != tc.status {
				t.Fatalf("status %d (err %v), want %d", status, err, tc.status)
			}
		})
	}
}

const peerID = "spiffe://cluster.local/ns/app/sa/server"

func badMarker() (*http.Response, error) {
	h := http.Header{}
	h.Set(ProxyErrorHeader, "please-retry")
	return &http.Response{StatusCode: http.StatusBadGateway, Body: io.NopCloser(strings.NewReader("")), Header: h}, nil
}

func newTestRetrying(next http.RoundTripper, reroute func(*http.Request) discovery.Target) (retrying, *[]string) {
	var counted []string
	return retrying{next: next, reroute: reroute, budget: &retryBudget{now: time.Now},
		counted: func(r string) { counted = append(counted, r) }}, &counted
}

// An application reached without the mesh is not a peer proxy: its 502
// saying "app unavailable" is its own answer, never a reason to send a
// request again.
func TestRetryingTrustsOnlyPeerProxies(t *testing.T) {
	for _, answer := range []func() (*http.Response, error){appGone, appReset} {
		next := &scripted{answers: []func() (*http.Response, error){answer, ok}}
		rt, _ := newTestRetrying(next, func(*http.Request) discovery.Target {
			return discovery.Target{Addr: netip.MustParseAddrPort("198.18.10.2:8080")}
		})
		req, _ := http.NewRequest(http.MethodGet, "http://backend/", nil)
		req = req.WithContext(upstream.WithTarget(req.Context(), discovery.Target{Addr: netip.MustParseAddrPort("198.18.10.1:8080")}))
		resp, err := rt.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusBadGateway || len(next.targets) != 1 {
			t.Fatalf("unmeshed app's marker: status %v err %v after %d attempts, want its 502 after 1", resp, err, len(next.targets))
		}
	}
}

// Once the budget is spent, a failing request is answered, not retried, and
// the refusal is counted.
func TestRetryingStopsWhenTheBudgetIsSpent(t *testing.T) {
	next := &scripted{answers: []func() (*http.Response, error){refused}}
	rt, counted := newTestRetrying(next, func(*http.Request) discovery.Target {
		return discovery.Target{Addr: netip.MustParseAddrPort("198.18.10.2:8080"), Identity: peerID}
	})
	for rt.budget.withdraw() {
	}
	req, _ := http.NewRequest(http.MethodGet, "http://backend/", nil)
	req = req.WithContext(upstream.WithTarget(req.Context(), discovery.Target{Addr: netip.MustParseAddrPort("198.18.10.1:8080"), Identity: peerID}))
	if _, err := rt.RoundTrip(req); err == nil || len(next.targets) != 1 {
		t.Fatalf("err %v after %d attempts, want the failure after 1", err, len(next.targets))
	}
	if len(*counted) != 1 || (*counted)[0] != contract.RetryNoBudget {
		t.Fatalf("counted %v", *counted)
	}
}

// A retry goes to an endpoint other than the one that failed even when the
// shared round robin hands back the same one first.
func TestRetryingPicksAnotherEndpoint(t *testing.T) {
	next := &scripted{answers: []func() (*http.Response, error){refused, ok}}
	picks := []string{"198.18.10.1:8080", "198.18.10.1:8080", "198.18.10.2:8080"}
	rt, _ := newTestRetrying(next, func(*http.Request) discovery.Target {
		p := picks[0]
		picks = picks[1:]
		return discovery.Target{Addr: netip.MustParseAddrPort(p), Identity: peerID}
	})
	req, _ := http.NewRequest(http.MethodGet, "http://backend/", nil)
	req = req.WithContext(upstream.WithTarget(req.Context(), discovery.Target{Addr: netip.MustParseAddrPort("198.18.10.1:8080"), Identity: peerID}))
	if _, err := rt.RoundTrip(req); err != nil || len(next.targets) != 2 || next.targets[1] != "198.18.10.2:8080" {
		t.Fatalf("err %v, attempts %v", err, next.targets)
	}
}

func TestIsDialError(t *testing.T) {
	_, timeout := timedOut()
	_, refusedErr := refused()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{refusedErr, true},
		{timeout, true},
		{fmt.Errorf("mesh handshake: %w", timeout), true},
		{&net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, false},
		{io.ErrUnexpectedEOF, false},
	} {
		if got := isDialError(tc.err); got != tc.want {
			t.Errorf("isDialError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
