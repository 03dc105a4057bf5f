package upstream

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"

	"golang.org/x/net/http/httpguts"

	"github.com/meshkeeper/meshkeeper/proxy/internal/h1body"
)

// readResponse reads a response as http.ReadResponse does, with the same
// result and the same bytes consumed. Why hand-written: a profile of the
// proxies draining request bursts showed http.ReadResponse at ~4.5% of
// their CPU, mostly textproto's allocations (a string per header value,
// per key, the line, readTransfer's state). Responses whose header block is
// already buffered and lies in the strict subset simpleHead accepts are
// parsed here from one string; everything else, and every error, is left to
// net/http, which stays the definition of right (the differential tests and
// FuzzResponseReadDifferential hold this reader to it). The fast path never
// reads from br, so a bound on its reads (h1Conn.limit) applies unchanged.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	buf, _ := br.Peek(br.Buffered()) // what is buffered; never reads
	h, ok := simpleHead(buf, req != nil && req.Method == http.MethodHead)
	if !ok {
		return http.ReadResponse(br, req)
	}
	resp := h.build(string(buf[:h.size]), req)
	if h.bodyLen > 0 {
		resp.Body = h1body.New(br, h.bodyLen, resp.Close)
	}
	_, _ = br.Discard(h.size)
	return resp, nil
}

// simpleResponse is what simpleHead learned of a header block.
type simpleResponse struct {
	size          int   // the header block's length, final CRLF included
	fields        int   // header field lines
	status        int   // 200-599
	contentLength int64 // the Content-Length value, -1 when absent
	bodyLen       int64 // body bytes that follow the block
	clCopies      int   // Content-Length lines (all identical)
}

// maxCLDigits keeps Content-Length below 2^63 without overflow checks.
const maxCLDigits = 18

// simpleHead decides whether the header block at the start of b lies in the
// subset readResponse parses itself, in which net/http accepts the
// response and reads it the one way built here:
//   - status line exactly "HTTP/1.1 " + 3 digits in 200-599 + optionally
//     " " and a reason of field-value bytes (1xx and 101 go to net/http);
//   - every line ends in CRLF: no bare LF, no CR elsewhere;
//   - field lines are a non-empty token, ":" and field-value bytes (no
//     obs-fold, no space before the colon, no other control bytes);
//   - no Transfer-Encoding, Trailer or Pragma field;
//   - every Content-Length copy is byte-identical, 1-18 digits;
//   - a body length is known: Content-Length, or bodiless by definition
//     (HEAD, 204, 304); read-until-close responses go to net/http.
//
// It is pure: it reads only b.
func simpleHead(b []byte, head bool) (simpleResponse, bool) {
	r := simpleResponse{contentLength: -1}
	line, rest, ok := cutCRLF(b)
	if !ok || !simpleStatusLine(line) {
		return r, false
	}
	r.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	var cl []byte
	for {
		line, rest, ok = cutCRLF(rest)
		if !ok {
			return r, false
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := simpleField(line)
		if !ok {
			return r, false
		}
		r.fields++
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if !allDigits(value) || len(value) > maxCLDigits || cl != nil && !bytes.Equal(cl, value) {
				return r, false
			}
			cl = value
			r.clCopies++
		case bytes.EqualFold(name, []byte("Transfer-Encoding")),
			bytes.EqualFold(name, []byte("Trailer")),
			bytes.EqualFold(name, []byte("Pragma")):
			return r, false
		}
	}
	r.size = len(b) - len(rest)
	if cl != nil {
		r.contentLength = 0
		for _, c := range cl {
			r.contentLength = r.contentLength*10 + int64(c-'0')
		}
	}
	switch {
	case head || r.status == http.StatusNoContent || r.status == http.StatusNotModified:
		r.bodyLen = 0
	case cl != nil:
		r.bodyLen = r.contentLength
	default:
		return r, false // read until close
	}
	return r, true
}

// cutCRLF cuts the line that ends in the first CRLF of b; a bare CR or LF
// before it, or no CRLF at all, is not ok.
func cutCRLF(b []byte) (line, rest []byte, ok bool) {
	for i, c := range b {
		switch c {
		case '\n':
			return nil, nil, false
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				return b[:i], b[i+2:], true
			}
			return nil, nil, false
		}
	}
	return nil, nil, false
}

func simpleStatusLine(l []byte) bool {
	if len(l) < 12 || string(l[:9]) != "HTTP/1.1 " || l[9] < '2' || l[9] > '5' || !allDigits(l[10:12]) {
		return false
	}
	if len(l) == 12 {
		return true
	}
	return l[12] == ' ' && fieldValue(l[13:])
}

// simpleField splits a field line into its name and its value, trimmed of
// spaces and tabs as textproto trims it.
func simpleField(l []byte) (name, value []byte, ok bool) {
	i := 0
	for i < len(l) && httpguts.IsTokenRune(rune(l[i])) {
		i++
	}
	if i == 0 || i == len(l) || l[i] != ':' || !fieldValue(l[i+1:]) {
		return nil, nil, false
	}
	return l[:i], trimOWS(l[i+1:]), true
}

// fieldValue reports whether b holds only bytes textproto accepts in a
// field value: HTAB, SP, VCHAR and obs-text.
func fieldValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// build makes the response from s, the header block simpleHead accepted:
// one string holds every key already in canonical form and every value.
func (h simpleResponse) build(s string, req *http.Request) *http.Response {
	status, rest, _ := cutString(s)
	hdr := make(http.Header, h.fields)
	strs := make([]string, h.fields) // one backing array for single values
	for {
		var line string
		line, rest, _ = cutString(rest)
		if line == "" {
			break
		}
		i := 0
		for line[i] != ':' {
			i++
		}
		key := textproto.CanonicalMIMEHeaderKey(line[:i])
		value := trimOWS(line[i+1:])
		if vv, ok := hdr[key]; ok {
			hdr[key] = append(vv, value)
		} else {
			hdr[key], strs = strs[:1:1], strs[1:]
			hdr[key][0] = value
		}
	}
	if h.clCopies > 1 {
		hdr["Content-Length"] = []string{hdr["Content-Length"][0]}
	}
	// shouldClose for HTTP/1.1: a close token ends the connection and the
	// Connection field goes.
	closing := httpguts.HeaderValuesContainsToken(hdr["Connection"], "close")
	if closing {
		delete(hdr, "Connection")
	}
	resp := &http.Response{
		Status:        status[len("HTTP/1.1 "):],
		StatusCode:    h.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        hdr,
		Body:          http.NoBody,
		ContentLength: h.bodyLen,
		Close:         closing,
		Request:       req,
	}
	if req != nil && req.Method == http.MethodHead {
		resp.ContentLength = h.contentLength // as declared, -1 if not
	}
	return resp
}

func cutString(s string) (line, rest string, ok bool) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\r' {
			return s[:i], s[i+2:], true
		}
	}
	return s, "", false
}

func trimOWS[T string | []byte](s T) T {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
