package httpfwd

import (
	"errors"
	"net"
	"net/http"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// ProxyErrorHeader marks a response the server-side proxy wrote itself because
// its hop to the application failed before any response. Its value says how.
const ProxyErrorHeader = "Meshkeeper-Proxy-Error"

// Values of ProxyErrorHeader.
const (
	// AppUnavailable: the app could not be reached; it never saw the request.
	AppUnavailable = "app-unavailable"
	// AppNoResponse: the app closed or reset the connection before its
	// response (an app that exits at once on SIGTERM). It may have processed
	// the request, so only an idempotent one may be sent again.
	AppNoResponse = "app-no-response"
)

// maxAttempts bounds how often one request is tried against the endpoints.
const maxAttempts = 3

// rerouteTries bounds the picks spent looking for an endpoint other than
// the one that just failed (concurrent requests share the round robin).
const rerouteTries = 4

// retrying sends a request to another endpoint when the first one went away
// under it — an endpoint whose pod is shutting down during a rolling restart
// — so clients see no failure while a Deployment rolls. It only retries what
// is safe to send again: a connection that never opened (nothing was sent)
// for any method, a failed exchange for idempotent methods, a peer proxy's
// "app unavailable" (the app never saw the request) for any method, and its
// "app no response" for idempotent ones. A request body is sent again only
// while all of it that went out is still buffered (replayBody: the first
// replayMax bytes), so a gRPC unary call is retried and an upload is not.
// Retries are bounded by a retry budget, so a failing service is not
// flooded with them.
// A connect to a pod that vanished fails after upstream.MeshConnectTimeout,
// early enough for the retry to answer before the client gives up.
type retrying struct {
	next    http.RoundTripper
	reroute func(*http.Request) discovery.Target
	budget  *retryBudget
	// counted is told of every retry sent or refused (contract.Retry*).
	counted func(result string)
}

func (t retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	t.budget.request()
	bodies, commit := replayable(req)
	defer commit()
	cur := req
	if body, _ := bodies(); body != req.Body {
		cur = req.WithContext(req.Context()) // a RoundTripper leaves req as it is
		cur.Body = body
	}
	resp, err := t.next.RoundTrip(cur)
	for attempt := 1; attempt < maxAttempts && retryable(cur, resp, err); attempt++ {
		// The body is handed over first: the failed attempt's transport
		// may wait for its body writer when its response is closed.
		body, ok := bodies()
		if !ok {
			break // more of the body went out than is buffered
		}
		if !t.budget.withdraw() {
			t.counted(contract.RetryNoBudget)
			break
		}
		t.counted(contract.RetrySent)
		if resp != nil {
			_ = resp.Body.Close()
		}
		cur = req.Clone(upstream.WithTarget(req.Context(), t.another(req, upstream.TargetFrom(cur.Context()))))
		cur.Body = body
		resp, err = t.next.RoundTrip(cur)
	}
	return resp, err
}

// another picks an endpoint other than failed when the service has one.
func (t retrying) another(req *http.Request, failed discovery.Target) discovery.Target {
	next := t.reroute(req)
	for i := 1; i < rerouteTries && next.Addr == failed.Addr; i++ {
		next = t.reroute(req)
	}
	return next
}

// retryable decides whether the attempt req → (resp, err) may be sent again.
func retryable(req *http.Request, resp *http.Response, err error) bool {
	if req.Context().Err() != nil {
		return false // the client is gone
	}
	if err != nil {
		return isDialError(err) || upstream.Replayable(req)
	}
	// Only a peer proxy's own answer counts: an app reached without the
	// mesh could set the header itself (and the inbound proxy strips it from
	// its app's responses).
	if resp.StatusCode != http.StatusBadGateway || !upstream.TargetFrom(req.Context()).Meshed() {
		return false
	}
	switch resp.Header.Get(ProxyErrorHeader) {
	case AppUnavailable:
		return true
	case AppNoResponse:
		return upstream.Replayable(req)
	}
	return false
}

// appFailure is the ProxyErrorHeader value for a failed hop to the app: a
// connection that never opened (nothing was sent), or one that failed
// before a response.
func appFailure(err error) string {
	if isDialError(err) {
		return AppUnavailable
	}
	return AppNoResponse
}

// isDialError tells a connection that never opened (nothing was sent) from a
// failure after the request went out.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
