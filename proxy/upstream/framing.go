package upstream

import (
	"bufio"
	"bytes"
	"net/http"
)

// framing is what a response's header block says about its length before
// net/http's reader resolves it: that reader drops Transfer-Encoding from an
// HTTP/1.0 response and Content-Length when both come, so afterwards nobody
// can tell that another parser on the way may have read the message
// differently. RFC 9112 (6.1, 6.3) calls such framing faulty: the
// connection is closed after the message, so nothing after it is ever read
// as the next response.
type framing struct {
	contentLength, transferEncoding bool
	// unseen: the header block did not fit in the buffer, so it was not
	// checked; the connection is not reused either.
	unseen bool
}

func (f framing) ambiguous(resp *http.Response) bool {
	return f.unseen || f.transferEncoding && (f.contentLength || !resp.ProtoAtLeast(1, 1))
}

// peekFraming reads (without consuming) the header block of the response
// about to be parsed, as far as the buffer holds it; a header block
// usually arrives in the first read, so this costs a scan, not a read.
func peekFraming(br *bufio.Reader) framing {
	for {
		b, _ := br.Peek(br.Buffered())
		if end := headerEnd(b); end >= 0 {
			return scanFraming(b[:end])
		}
		if br.Buffered() == br.Size() {
			return framing{unseen: true}
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return framing{unseen: true} // the read of the response fails too
		}
	}
}

// headerEnd returns the length of the header block at the start of b (its
// empty line included, CRLF or bare LF as net/http accepts), or -1. The
// buffer may hold kilobytes of body after the block: neither search runs
// past the first end found.
func headerEnd(b []byte) int {
	crlf := bytes.Index(b, []byte("\n\r\n"))
	within := b
	if crlf >= 0 {
		within = b[:crlf+2]
	}
	if i := bytes.Index(within, []byte("\n\n")); i >= 0 {
		return i + 2
	}
	if crlf >= 0 {
		return crlf + 3
	}
	return -1
}

func scanFraming(block []byte) framing {
	var f framing
	for len(block) > 0 {
		line := block
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line, block = block[:i], block[i+1:]
		} else {
			block = nil
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		switch {
		case !ok:
		case len(name) == len("Content-Length"):
			f.contentLength = f.contentLength || bytes.EqualFold(name, []byte("Content-Length"))
		case len(name) == len("Transfer-Encoding"):
			f.transferEncoding = f.transferEncoding || bytes.EqualFold(name, []byte("Transfer-Encoding"))
		}
	}
	return f
}
