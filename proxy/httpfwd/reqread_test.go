package httpfwd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// readOutcome is everything a request read leaves behind that the proxy or
// net/http can observe.
type readOutcome struct {
	req      *http.Request // Body cleared; compared with reflect.DeepEqual
	err      string
	noBody   bool // Body is http.NoBody
	body     string
	bodyErr  string
	closeErr string
	rest     string // what is left in the reader afterwards
	restErr  string
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// readWith reads one request from input with read, delivering the input in
// pieces of at most chunk bytes (the first Peek sees only the first piece,
// as serveFast's does), then either reads the body to its end or closes it
// unread, then reads whatever is left.
func readWith(read func(*bufio.Reader) (*http.Request, error), input []byte, chunk int, closeUnread bool) readOutcome {
	br := bufio.NewReaderSize(&chunkReader{b: input, chunk: chunk}, 4<<10)
	var o readOutcome
	if _, err := br.Peek(1); err != nil {
		o.err = "peek: " + err.Error()
		return o
	}
	req, err := read(br)
	o.err = errString(err)
	if req != nil {
		o.noBody = req.Body == http.NoBody
		if closeUnread {
			o.closeErr = errString(req.Body.Close())
			_, err := req.Body.Read(make([]byte, 1))
			o.bodyErr = errString(err)
		} else {
			b, err := io.ReadAll(req.Body)
			o.body, o.bodyErr = string(b), errString(err)
			o.closeErr = errString(req.Body.Close())
		}
		cp := *req
		cp.Body = nil
		o.req = &cp
	}
	rest, err := io.ReadAll(br)
	o.rest, o.restErr = string(rest), errString(err)
	return o
}

// chunkReader returns at most chunk bytes per Read.
type chunkReader struct {
	b     []byte
	chunk int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// diffRead compares readRequest with http.ReadRequest on input, in every
// delivery and body mode.
func diffRead(input []byte) error {
	for _, chunk := range []int{1 << 20, 7} {
		for _, closeUnread := range []bool{false, true} {
			want := readWith(http.ReadRequest, input, chunk, closeUnread)
			got := readWith(readRequest, input, chunk, closeUnread)
			if !reflect.DeepEqual(got, want) {
				return fmt.Errorf("chunk %d, close unread %v:\n got %s\nwant %s", chunk, closeUnread, describe(got), describe(want))
			}
		}
	}
	return nil
}

func describe(o readOutcome) string {
	s := fmt.Sprintf("err=%q noBody=%v body=%q bodyErr=%q closeErr=%q rest=%q restErr=%q", o.err, o.noBody, o.body, o.bodyErr, o.closeErr, o.rest, o.restErr)
	if r := o.req; r != nil {
		s += fmt.Sprintf("\n  %q %#v %q %d.%d header=%#v host=%q cl=%d te=%q close=%v uri=%q trailer=%#v",
			r.Method, *r.URL, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Header, r.Host, r.ContentLength, r.TransferEncoding, r.Close, r.RequestURI, r.Trailer)
	}
	return s
}

// simpleHandles reports whether readRequest parses input itself when it all
// arrives in one read.
func simpleHandles(input []byte) bool {
	_, _, ok := simpleRequestHead(input[:min(len(input), 4<<10)])
	return ok
}

const hostLine = "Host: web\r\n"

// readRequestCases are request byte strings, each marked by whether the
// simple reader parses it itself.
var readRequestCases = []struct {
	raw  string
	fast bool // parsed by the simple reader, not net/http
}{
	{"GET / HTTP/1.1\r\n" + hostLine + "\r\n", true},
	{"GET /a/b?x=1&y=%20z HTTP/1.1\r\n" + hostLine + "User-Agent: curl/8\r\nAccept: */*\r\n\r\n", true},
	{"GET /%zz HTTP/1.1\r\n" + hostLine + "\r\n", false},
	{"GET /a%2Fb%C3%A9?q=%41 HTTP/1.1\r\n" + hostLine + "\r\n", true},
	{"GET //evil/x HTTP/1.1\r\n" + hostLine + "\r\n", true},
	{"GET /a#frag HTTP/1.1\r\n" + hostLine + "\r\n", true},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: 5\r\n\r\nhello", true},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\n" + hostLine + "\r\n", true},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: 10\r\n\r\nshort", true},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: 10\r\nConnection: close\r\n\r\nshort", true},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n", true},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: 007\r\n\r\n1234567", true},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", false},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", false},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: 3, 3\r\n\r\nabc", false},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: +3\r\n\r\nabc", false},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: -3\r\n\r\nabc", false},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: 3 3\r\n\r\nabc", false},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length:  3 \t\r\n\r\nabc", true},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length:\r\n\r\nabc", false},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: 9223372036854775807\r\n\r\nabc", true},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: 9223372036854775808\r\n\r\nabc", false},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Content-Length: 99999999999999999999999\r\n\r\nabc", false},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", false},
	{"POST /echo HTTP/1.1\r\n" + hostLine + "Trailer: X-T\r\nContent-Length: 1\r\n\r\na", true},
	{"GET / HTTP/1.1\r\n" + hostLine + "X-A: 1\r\nx-a: 2\r\nX-B: 3\r\nX-A: 4\r\n\r\n", true},
	{"GET / HTTP/1.1\r\n" + hostLine + "x-forwarded-for: a\r\nuSER-aGENT: b\r\ncontent-type: c\r\n\r\n", true},
	{"GET / HTTP/1.1\r\n" + hostLine + "X-Empty:\r\nX-Space:   \r\nX-Tabs:\t v \t\r\n\r\n", true},
	{"GET / HTTP/1.1\r\n" + hostLine + "X-In: a \t b\r\nX-Hi: caf\xc3\xa9\r\n\r\n", true},
	{"GET / HTTP/1.1\r\n" + hostLine + "X-Del: a\x7fb\r\n\r\n", false},
	{"GET / HTTP/1.1\r\n" + hostLine + "X-Nul: a\x00b\r\n\r\n", false},
	{"GET / HTTP/1.1\r\n" + hostLine + "X-Cr: a\rb\r\n\r\n", false},
	{"GET / HTTP/1.1\r\n" + hostLine + "Connection: close\r\n\r\nGET /next HTTP/1.1\r\n\r\n", true},
	{"GET / HTTP/1.1\r\n" + hostLine + "Connection: keep-alive, Close\r\n\r\n", true},
	{"GET / HTTP/1.1\r\n" + hostLine + "Connection: keep-alive\r\n\r\n", true},
	{"GET / HTTP/1.1\r\n" + hostLine + "Pragma: no-cache\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: web\r\nHost: other\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nhost: web\r\nHOST: other\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nhost: web\r\n\r\n", true},
	{"GET / HTTP/1.1\r\nHost:\r\n\r\n", true},
	{"GET / HTTP/1.1\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", false},
	{"GET http://other/p?q HTTP/1.1\r\n" + hostLine + "\r\n", false},
	{"OPTIONS * HTTP/1.1\r\n" + hostLine + "\r\n", false},
	{"CONNECT web:443 HTTP/1.1\r\n" + hostLine + "\r\n", false},
	{"CONNECT /rpc HTTP/1.1\r\n" + hostLine + "\r\n", true},
	{"GET / HTTP/1.0\r\n" + hostLine + "\r\n", false},
	{"GET / HTTP/1.0\r\n" + hostLine + "Connection: keep-alive\r\n\r\n", false},
	{"GET / HTTP/2.0\r\n" + hostLine + "\r\n", false},
	{"GET / http/1.1\r\n" + hostLine + "\r\n", false},
	{"GET /  HTTP/1.1\r\n" + hostLine + "\r\n", false},
	{"GET / x HTTP/1.1\r\n" + hostLine + "\r\n", false},
	{"G(T / HTTP/1.1\r\n" + hostLine + "\r\n", false},
	{"M-SEARCH / HTTP/1.1\r\n" + hostLine + "\r\n", true},
	{" GET / HTTP/1.1\r\n" + hostLine + "\r\n", false},
	{"\r\nGET / HTTP/1.1\r\n" + hostLine + "\r\n", false},
	{"GET / HTTP/1.1\n" + "Host: web\n\n", false},
	{"GET / HTTP/1.1\r\nHost: web\nX-A: 1\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: web\r\n\nX-A: 1\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: web\r\nX-A: one\r\n two\r\n\r\n", false},
	{"GET / HTTP/1.1\r\n Host: web\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: web\r\nBad Name: x\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: web\r\nX-A : x\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: web\r\n: x\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: web\r\nNoColon\r\n\r\n", false},
	{"GET / HTTP/1.1\r\nHost: web\r\nX-A: b:c::\r\n\r\n", true},
	{"GET / HTTP/1.1\r\nHost: web\r\n", false},                                                  // block cut short
	{"GET / HTTP/1.1\r\nHost: web\r\nX-Long: " + strings.Repeat("v", 5000) + "\r\n\r\n", false}, // beyond the buffer
	{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
	{"", false},
}

func TestReadRequestMatchesNetHTTP(t *testing.T) {
	for _, tc := range readRequestCases {
		if got := simpleHandles([]byte(tc.raw)); got != tc.fast {
			t.Errorf("%q: parsed by the simple reader %v, want %v", tc.raw, got, tc.fast)
		}
		if err := diffRead([]byte(tc.raw)); err != nil {
			t.Errorf("%q: %v", tc.raw, err)
		}
	}
}

// A read that ends with neither data nor EOF (a timeout, a reset) reaches
// the body's reader unchanged, as net/http's.
func TestReadRequestBodyPassesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	raw := "POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 10\r\n\r\nabc"
	for _, read := range []func(*bufio.Reader) (*http.Request, error){http.ReadRequest, readRequest} {
		br := bufio.NewReader(io.MultiReader(strings.NewReader(raw), errReader{boom}))
		if _, err := br.Peek(1); err != nil {
			t.Fatal(err)
		}
		req, err := read(br)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(req.Body)
		if string(b) != "abc" || !errors.Is(err, boom) {
			t.Errorf("body %q, %v; want abc, boom", b, err)
		}
	}
}

func FuzzRequestReadDifferential(f *testing.F) {
	for _, s := range fastPathSeeds {
		f.Add([]byte(s))
	}
	for _, tc := range readRequestCases {
		f.Add([]byte(tc.raw))
	}
	// Header lines, for the wrapped form below.
	f.Add([]byte("x-a: 1\r\nX-A:\t2 \r\nConnection: close\r\nContent-Length: 2"))
	f.Add([]byte("content-length: 01\r\nTrailer: X\r\nuser-AGENT: \xff"))
	f.Fuzz(func(t *testing.T, input []byte) {
		if err := diffRead(input); err != nil {
			t.Fatalf("simple reader handles it: %v: %v", simpleHandles(input), err)
		}
		// The input as header lines of a request in the subset too, so
		// most mutations stay where the simple reader works.
		wrapped := append([]byte("POST /p?q=1 HTTP/1.1\r\nHost: web\r\n"), input...)
		wrapped = append(wrapped, "\r\n\r\n"...)
		if err := diffRead(wrapped); err != nil {
			t.Fatalf("as header lines: simple reader handles it: %v: %v", simpleHandles(wrapped), err)
		}
	})
}

var benchRequest = []byte("POST /echo HTTP/1.1\r\nHost: echo.default.svc:8080\r\nUser-Agent: Go-http-client/1.1\r\n" +
	"Content-Type: application/octet-stream\r\nAccept: */*\r\nContent-Length: 1024\r\n\r\n" + strings.Repeat("b", 1024))

func BenchmarkReadRequest(b *testing.B) {
	for _, bc := range []struct {
		name string
		read func(*bufio.Reader) (*http.Request, error)
	}{{"nethttp", http.ReadRequest}, {"simple", readRequest}} {
		b.Run(bc.name, func(b *testing.B) {
			r := bytes.NewReader(benchRequest)
			br := bufio.NewReaderSize(r, 4<<10)
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(benchRequest)
				br.Reset(r)
				if _, err := br.Peek(1); err != nil {
					b.Fatal(err)
				}
				req, err := bc.read(br)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, req.Body); n != 1024 || err != nil {
					b.Fatal(n, err)
				}
			}
		})
	}
}
