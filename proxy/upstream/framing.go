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
// empty line included, CRLF or bare LF as net/http accepts), or -1.
func headerEnd(b []byte) int {
	end := -1
	if i := bytes.Index(b, []byte("\n\r\n")); i >= 0 {
		end = i + 3
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 && (end < 0 || i+2 < end) {
		end = i + 2
	}
	return end
}

func scanFraming(block []byte) framing {
	var f framing
	for line := range bytes.Lines(block) {
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		f.contentLength = f.contentLength || bytes.EqualFold(name, []byte("Content-Length"))
		f.transferEncoding = f.transferEncoding || bytes.EqualFold(name, []byte("Transfer-Encoding"))
	}
	return f
}
