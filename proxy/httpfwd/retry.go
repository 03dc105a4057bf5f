package httpfwd

import (
	"errors"
	"net"
	"net/http"

	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// ProxyErrorHeader marks a response the server-side proxy wrote itself because
// it could not reach its application: the request provably never reached it.
const ProxyErrorHeader = "Meshkeeper-Proxy-Error"

// AppUnavailable is ProxyErrorHeader's value when the app could not be reached.
const AppUnavailable = "app-unavailable"

// maxAttempts bounds how often one request is tried against the endpoints.
const maxAttempts = 3

// retrying sends a bodiless request to another endpoint when the first one
// went away under it — an endpoint whose pod is shutting down during a
// rolling restart — so clients see no failure while a Deployment rolls. It
// only retries what the application cannot have seen: a failed upstream
// connection for idempotent methods, or a peer proxy's own "app unavailable".
// A connect to a pod that vanished fails after upstream.MeshConnectTimeout,
// early enough for the retry to answer before the client gives up.
type retrying struct {
	next    http.RoundTripper
	reroute func(*http.Request) discovery.Target
}

func (t retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	for attempt := 1; attempt < maxAttempts && retryable(req, resp, err); attempt++ {
		if resp != nil {
			_ = resp.Body.Close()
		}
		resp, err = t.next.RoundTrip(req.Clone(upstream.WithTarget(req.Context(), t.reroute(req))))
	}
	return resp, err
}

func retryable(req *http.Request, resp *http.Response, err error) bool {
	if req.Body != nil && req.Body != http.NoBody {
		return false // a streamed body cannot be sent twice
	}
	if err != nil {
		return upstream.Replayable(req) && req.Context().Err() == nil
	}
	return resp.StatusCode == http.StatusBadGateway && resp.Header.Get(ProxyErrorHeader) == AppUnavailable
}

// isDialError tells a connection that never opened (nothing was sent) from a
// failure after the request went out.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
