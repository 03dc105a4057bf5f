package proxymetrics

import (
	"fmt"
	"io"
	"net/http"
)

// MaxBodyBytes bounds every metrics response the operator reads (a proxy's
// exposition, a Prometheus query answer). A proxy's exposition is a few
// hundred series, tens of KiB; anything past 4 MiB is a fault or an attack
// and is refused whole rather than parsed truncated.
const MaxBodyBytes = 4 << 20

// ErrBodyTooLarge is returned by a body read past its limit.
var ErrBodyTooLarge = fmt.Errorf("response body exceeds %d bytes", MaxBodyBytes)

// LimitBody wraps a response body so that reading more than limit bytes
// fails with ErrBodyTooLarge (io.LimitReader would end silently, and a
// truncated exposition could parse as a smaller, wrong one).
func LimitBody(body io.ReadCloser, limit int64) io.ReadCloser {
	return &limitedBody{ReadCloser: body, left: limit}
}

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, ErrBodyTooLarge
	}
	// Read one byte past the limit to tell "exactly limit" from "more".
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), ErrBodyTooLarge
	}
	return n, err
}

// LimitedTransport bounds the body of every response it returns to
// MaxBodyBytes; for clients (the Prometheus API client) that read whole
// bodies themselves.
type LimitedTransport struct{ Base http.RoundTripper }

func (t LimitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = LimitBody(resp.Body, MaxBodyBytes)
	return resp, nil
}
