package httpfwd

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/metrics"
)

// tracker follows one request until its outcome is known and counts it
// once: when the response body ends (trailers read), before the proxy
// writes that end to the client, so a client holding its whole answer finds
// it counted; or, for a request that never got that far, when its handler
// gives up.
type tracker struct {
	m      *metrics.Metrics
	now    func() time.Time
	start  time.Time
	client context.Context // the downstream request's context

	mu        sync.Mutex
	obs       metrics.Request
	headersAt time.Time
	done      bool
}

type trackerKey struct{}

func trackerFrom(ctx context.Context) *tracker {
	t, _ := ctx.Value(trackerKey{}).(*tracker)
	return t
}

// answered records the status sent to the client and when.
func (t *tracker) answered(status int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.obs.Status == 0 {
		t.obs.Status, t.headersAt = status, t.now()
	}
}

// fail records why the request got no regular answer, unless already known.
func (t *tracker) fail(kind string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.obs.Error == "" {
		t.obs.Error = kind
	}
}

// ended records the end of a response body: its gRPC status, if any.
func (t *tracker) ended(res *http.Response) {
	if !t.obs.GRPC {
		return
	}
	s := res.Trailer.Get("Grpc-Status")
	if s == "" {
		s = res.Header.Get("Grpc-Status") // trailers-only response
	}
	t.mu.Lock()
	t.obs.GRPCStatus = s
	t.mu.Unlock()
}

// finish counts the request; later calls do nothing.
func (t *tracker) finish() {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return
	}
	t.done = true
	end := t.headersAt
	if end.IsZero() {
		end = t.now()
	}
	obs := t.obs
	obs.Latency = end.Sub(t.start)
	t.mu.Unlock()
	t.m.ObserveRequest(obs)
}

// giveUp finishes a request whose handler is returning: if it is not
// counted yet, the response did not end normally, and the client leaving
// is the likeliest reason when the body saw no upstream error.
func (t *tracker) giveUp() {
	if t.client.Err() != nil {
		t.fail(contract.ErrorClientCancel)
	}
	t.mu.Lock()
	unexplained := !t.done && t.obs.Error == "" && t.obs.Status != http.StatusSwitchingProtocols
	t.mu.Unlock()
	if unexplained {
		t.fail(contract.ErrorClientCancel)
	}
	t.finish()
}

// errorKind names an upstream failure for the error label. A failure while
// the client is gone is the client's leaving (the transport aborts on it).
func errorKind(err error, client context.Context) string {
	var op *net.OpError
	var alert tls.AlertError
	var verify *tls.CertificateVerificationError
	switch {
	case client.Err() != nil:
		return contract.ErrorClientCancel
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return contract.ErrorTimeout
	case errors.As(err, &op) && op.Op == "dial", errors.As(err, &alert), errors.As(err, &verify),
		strings.Contains(err.Error(), "mesh handshake"):
		return contract.ErrorConnect
	case isReset(err):
		return contract.ErrorUpstreamReset
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return contract.ErrorTimeout
	}
	return contract.ErrorUpstream
}

// isReset recognises a stream or connection the upstream reset or closed
// early. net/http's bundled HTTP/2 errors are unexported types, so their
// text is all there is to match ("stream error: stream ID 3; INTERNAL_ERROR",
// "http2: server sent GOAWAY and closed the connection ...").
func isReset(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "stream error") || strings.Contains(msg, "GOAWAY") ||
		strings.Contains(msg, "connection reset") || strings.Contains(msg, "server closed")
}

// endBody wraps a response body: its end (EOF, trailers now read) or its
// failure completes the tracker's outcome and counts the request.
type endBody struct {
	io.ReadCloser
	res *http.Response
	t   *tracker
}

func (b *endBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		if errors.Is(err, io.EOF) {
			b.t.ended(b.res)
		} else {
			b.t.fail(errorKind(err, b.t.client))
		}
		b.t.finish()
	}
	return n, err
}
