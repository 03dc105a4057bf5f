package httpfwd

import (
	"bytes"
	"io"
	"net/http"
)

// smallBodyMax is the largest request body of known length that is read
// whole before the request is forwarded. net/http's transport sends a
// streamed body's headers in a write of their own, so every hop would cost
// two writes (two TLS records, two wake-ups of the peer) per request; a body
// already in memory leaves in the same write as its headers. Larger bodies
// and those of unknown length (chunked, full-duplex streams) are streamed.
const smallBodyMax = 4 << 10

// readSmallBody replaces a small request body by its bytes in memory, in the
// form net/http recognises as such, replayable through GetBody. A body that fails to arrive whole is
// replayed as far as it came, then its error, as if it had been streamed.
func readSmallBody(r *http.Request) {
	if r.ContentLength <= 0 || r.ContentLength > smallBodyMax || r.Body == nil || r.Body == http.NoBody {
		return
	}
	buf := make([]byte, r.ContentLength)
	n, err := io.ReadFull(r.Body, buf)
	if err != nil {
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(buf[:n]), errReader{err}))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
