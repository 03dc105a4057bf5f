package httpfwd

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"

	"golang.org/x/net/http/httpguts"

	"github.com/meshkeeper/meshkeeper/proxy/internal/h1body"
)

// Hand-written for a measured reason: a perf profile of the proxies draining
// request bursts put http.ReadRequest at ~7.7% of their CPU, mostly
// textproto's header reader allocating a string per value and per
// canonicalised key, plus the transfer and URL parsing around it. The common
// request is parsed here from bytes already buffered with one string for the
// whole header block, keys and values cut from it, one map and one []string.
// Anything outside a strict subset, decided by the pure simpleRequestHead,
// goes to http.ReadRequest untouched, which stays the oracle: for input in
// the subset the result is the same, field for field, as
// FuzzRequestReadDifferential checks.

// readRequest reads a request from br as http.ReadRequest does, consuming
// the same bytes. It never reads from br's source itself: either the whole
// header block is buffered and parsed here, or http.ReadRequest does all.
func readRequest(br *bufio.Reader) (*http.Request, error) {
	req, n, ok := simpleRequestHead(peekBuffered(br))
	if !ok {
		return http.ReadRequest(br)
	}
	_, _ = br.Discard(n) // buffered: cannot fail
	if req.ContentLength == 0 {
		req.Body = http.NoBody
	} else {
		req.Body = h1body.New(br, req.ContentLength, req.Close)
	}
	return req, nil
}

// simpleRequestHead parses a request's line and header block from b when it
// lies whole in b and inside the subset parsed here, returning the request
// without its Body and the length of the block. The subset, everything else
// being left to net/http:
//   - request line "METHOD SP target SP HTTP/1.1" with METHOD a token and
//     target starting with '/', bytes 0x21-0x7E only, and accepted by
//     url.ParseRequestURI;
//   - every line ends in CRLF; no other CR or LF; no obs-fold;
//   - header names are tokens; values HTAB, SP, VCHAR and obs-text only;
//   - exactly one Host; no Transfer-Encoding (chunking, the smuggling
//     surface); no Pragma (net/http may add Cache-Control);
//   - at most one Content-Length, digits only, below 2^63.
func simpleRequestHead(b []byte) (*http.Request, int, bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, 0, false
	}
	n := end + 4
	// The one allocation of the block's bytes; everything below is cut from it.
	s := string(b[:end+2])
	eol := indexCRLF(s)
	req, ok := parseSimpleRequestLine(s[:eol])
	if !ok {
		return nil, 0, false
	}
	h, ok := parseSimpleHeader(s[eol+2:])
	if !ok {
		return nil, 0, false
	}
	hosts := h["Host"]
	if len(hosts) != 1 || h["Transfer-Encoding"] != nil || h["Pragma"] != nil {
		return nil, 0, false
	}
	cl, ok := simpleContentLength(h["Content-Length"])
	if !ok {
		return nil, 0, false
	}
	delete(h, "Host")
	req.Header = h
	req.Host = req.URL.Host // as net/http: the URL's host, if any, wins
	if req.Host == "" {
		req.Host = hosts[0]
	}
	req.ContentLength = cl
	req.Close = httpguts.HeaderValuesContainsToken(h["Connection"], "close")
	return req, n, true
}

// indexCRLF returns the index of s's first CRLF; s ends in one.
func indexCRLF(s string) int {
	for i := 0; ; i++ {
		if s[i] == '\r' && s[i+1] == '\n' {
			return i
		}
	}
}

func parseSimpleRequestLine(line string) (*http.Request, bool) {
	sp1 := -1
	for i := 0; i < len(line); i++ {
		if line[i] == ' ' {
			sp1 = i
			break
		}
	}
	const proto = " HTTP/1.1"
	if sp1 <= 0 || len(line) < sp1+1+len(proto) || line[len(line)-len(proto):] != proto {
		return nil, false
	}
	method, target := line[:sp1], line[sp1+1:len(line)-len(proto)]
	if !isTokenString(method) || len(target) == 0 || target[0] != '/' {
		return nil, false
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c < 0x21 || c > 0x7e {
			return nil, false
		}
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, false
	}
	return &http.Request{
		Method: method, URL: u, RequestURI: target,
		Proto: proto[1:], ProtoMajor: 1, ProtoMinor: 1,
	}, true
}

// parseSimpleHeader parses header lines, each ending in CRLF, as
// textproto's readMIMEHeader does, or reports them outside the subset.
func parseSimpleHeader(s string) (http.Header, bool) {
	lines := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			lines++
		}
	}
	h := make(http.Header, lines)
	strs := make([]string, lines)
	for len(s) > 0 {
		eol := indexCRLF(s)
		line := s[:eol]
		s = s[eol+2:]
		colon := -1
		for i := 0; i < len(line); i++ {
			if line[i] == ':' {
				colon = i
				break
			}
		}
		if colon <= 0 || !isTokenString(line[:colon]) {
			return nil, false // also rejects obs-fold: a line starting with SP or HTAB
		}
		value := trimOWS(line[colon+1:])
		for i := 0; i < len(value); i++ {
			if c := value[i]; c < 0x20 && c != '\t' || c == 0x7f {
				return nil, false
			}
		}
		key := line[:colon]
		if !isCanonicalKey(key) {
			key = textproto.CanonicalMIMEHeaderKey(key)
		}
		if vv, ok := h[key]; ok {
			h[key] = append(vv, value)
			continue
		}
		// Capacity 1: an append for a repeated key must not run into the
		// next key's value.
		vv := strs[:1:1]
		strs = strs[1:]
		vv[0] = value
		h[key] = vv
	}
	return h, true
}

// trimOWS trims spaces and tabs at both ends, as textproto does to values.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func isTokenString(s string) bool {
	return s != "" && httpguts.ValidHeaderFieldName(s)
}

// isCanonicalKey reports whether textproto.CanonicalMIMEHeaderKey would
// return the token k unchanged, so k can be used without a copy.
func isCanonicalKey(k string) bool {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

// simpleContentLength is net/http's request length for at most one
// Content-Length of digits only: 0 without one.
func simpleContentLength(vv []string) (int64, bool) {
	switch len(vv) {
	case 0:
		return 0, true
	case 1:
	default:
		return 0, false
	}
	v := vv[0]
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		return 0, false
	}
	return int64(n), true
}
