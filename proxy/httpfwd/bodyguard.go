package httpfwd

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// bodyGuard notes a request body that ended in an error: a malformed chunk
// or trailer, or a connection cut short. After one, nobody knows where the
// next request on the connection starts. net/http's server then closes the
// connection after its answer, unless the handler enabled full duplex, as
// ServeHTTP must: it would read the rest of a bad trailer as the next
// request (found by FuzzFastPathDifferential: "0\nGET /x HTTP/1.1..."), so
// ServeHTTP asks for the close itself.
type bodyGuard struct {
	io.ReadCloser
	failed atomic.Bool // written by the transport's goroutine that sends the body
}

func (b *bodyGuard) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.failed.Store(true)
	}
	return n, err
}

// guardBody wraps an HTTP/1 request's body; the guard is nil for none.
func guardBody(r *http.Request) *bodyGuard {
	if r.ProtoMajor != 1 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	g := &bodyGuard{ReadCloser: r.Body}
	r.Body = g
	return g
}

// closeAfterReply tells net/http's HTTP/1 server, from the handler's
// goroutine, to close the connection once the response is written. A
// MaxBytesReader over its limit is the documented, and only public, way to
// ask that after the response headers have left.
func closeAfterReply(w http.ResponseWriter) {
	_, _ = http.MaxBytesReader(w, io.NopCloser(strings.NewReader("x")), 0).Read(make([]byte, 1))
}
