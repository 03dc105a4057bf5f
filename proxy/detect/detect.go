// Package detect classifies the first bytes a client sends so the proxy can
// pick how to handle a connection: per-request HTTP, or opaque bytes. It is
// pure: callers feed it what they have read so far and read more while it
// answers Undecided.
package detect

import "bytes"

// Protocol is what a connection's first bytes look like.
type Protocol int

const (
	// Undecided means more bytes are needed before answering.
	Undecided Protocol = iota
	// Opaque is anything not recognised; it is relayed as bytes.
	Opaque
	// HTTP1 is an HTTP/1.x request line.
	HTTP1
	// HTTP2 is the HTTP/2 prior-knowledge connection preface (h2c, gRPC).
	HTTP2
	// TLS is a TLS handshake record; see ClientHelloALPN for what it offers.
	TLS
)

func (p Protocol) String() string {
	switch p {
	case Opaque:
		return "opaque"
	case HTTP1:
		return "http1"
	case HTTP2:
		return "http2"
	case TLS:
		return "tls"
	default:
		return "undecided"
	}
}

// MaxRequestLine bounds how far HTTP/1 detection reads before giving up: a
// request line longer than this is treated as opaque.
const MaxRequestLine = 8 << 10

// h2Preface is the fixed first 24 bytes of every HTTP/2 prior-knowledge client.
var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// Detect classifies b, the first bytes a client sent. A decided answer never
// changes when more bytes are appended, so callers may stop reading as soon
// as the answer is not Undecided. At end of stream an Undecided answer means Opaque.
func Detect(b []byte) Protocol {
	if len(b) == 0 {
		return Undecided
	}
	if p := detectTLS(b); p != Opaque {
		return p
	}
	if p := detectH2(b); p != Opaque {
		return p
	}
	return detectHTTP1(b)
}

// detectTLS recognises a TLS handshake record header: type 22, version 3.x.
func detectTLS(b []byte) Protocol {
	if b[0] != 0x16 {
		return Opaque
	}
	if len(b) < 3 {
		if len(b) == 2 && b[1] != 0x03 {
			return Opaque
		}
		return Undecided
	}
	if b[1] == 0x03 && b[2] <= 0x04 {
		return TLS
	}
	return Opaque
}

func detectH2(b []byte) Protocol {
	n := min(len(b), len(h2Preface))
	if !bytes.Equal(b[:n], h2Preface[:n]) {
		return Opaque
	}
	if n == len(h2Preface) {
		return HTTP2
	}
	return Undecided
}

// detectHTTP1 checks "METHOD SP request-target SP HTTP/1.d CRLF" incrementally.
func detectHTTP1(b []byte) Protocol {
	// Method: one or more token characters then a space.
	i := 0
	for i < len(b) && isTokenChar(b[i]) {
		i++
	}
	if i == len(b) {
		return undecidedUnlessTooLong(b)
	}
	if i == 0 || b[i] != ' ' {
		return Opaque
	}
	i++
	// Request target: visible characters then a space.
	start := i
	for i < len(b) && b[i] > ' ' && b[i] < 0x7f {
		i++
	}
	if i == len(b) {
		return undecidedUnlessTooLong(b)
	}
	if i == start || b[i] != ' ' {
		return Opaque
	}
	i++
	// Version and line end.
	const version = "HTTP/1.?\r\n"
	for j := 0; j < len(version); j, i = j+1, i+1 {
		if i == len(b) {
			return undecidedUnlessTooLong(b)
		}
		switch {
		case version[j] == '?':
			if b[i] < '0' || b[i] > '9' {
				return Opaque
			}
		case b[i] != version[j]:
			return Opaque
		}
	}
	if i > MaxRequestLine {
		return Opaque
	}
	return HTTP1
}

func undecidedUnlessTooLong(b []byte) Protocol {
	if len(b) >= MaxRequestLine {
		return Opaque
	}
	return Undecided
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110 tchar).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}
