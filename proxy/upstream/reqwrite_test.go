package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// writeOutcome is everything a request writer leaves behind.
type writeOutcome struct {
	wire     string
	err      string
	errType  string
	left     string // body bytes not read
	panicked string
}

// writeWith builds a fresh request and writes it with write on a bufio.Writer
// of the given size over out (nil: a buffer).
func writeWith(build func() *http.Request, size int, out io.Writer, write func(*bufio.Writer, *http.Request) error) (o writeOutcome) {
	var buf bytes.Buffer
	if out == nil {
		out = &buf
	}
	req := build()
	bw := bufio.NewWriterSize(out, size)
	if size < 64 {
		// Leave bw with a sticky error, as a conn whose flush failed does.
		_, _ = bw.WriteString(strings.Repeat("x", size+1))
	}
	defer func() {
		if p := recover(); p != nil {
			o.panicked = fmt.Sprint(p)
		}
	}()
	err := write(bw, req)
	_ = bw.Flush()
	o.wire = buf.String()
	if err != nil {
		o.err, o.errType = err.Error(), reflect.TypeOf(err).String()
	}
	if req.Body != nil {
		left, _ := io.ReadAll(req.Body)
		o.left = string(left)
	}
	return o
}

func netHTTPWrite(bw *bufio.Writer, req *http.Request) error { return req.Write(bw) }

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("conn broken") }

// assertSameWrite compares writeRequest with req.Write on identical fresh
// requests, over a roomy buffer, a small one and a broken connection.
func assertSameWrite(t *testing.T, build func() *http.Request) {
	t.Helper()
	for _, c := range []struct {
		size int
		out  io.Writer
	}{{4096, nil}, {200, nil}, {16, failWriter{}}, {4096, failWriter{}}} {
		want := writeWith(build, c.size, c.out, netHTTPWrite)
		got := writeWith(build, c.size, c.out, writeRequest)
		if got != want {
			t.Fatalf("buffer %d: writeRequest differs from req.Write\n got %+q\nwant %+q", c.size, got, want)
		}
	}
}

func memRequest(method, target string, body []byte, declared int64) func() *http.Request {
	return func() *http.Request {
		req, err := http.NewRequest(method, target, nil)
		if err != nil {
			panic(err)
		}
		if body != nil {
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		req.ContentLength = declared
		return req
	}
}

// with returns build with change applied to each fresh request.
func with(build func() *http.Request, change func(*http.Request)) func() *http.Request {
	return func() *http.Request {
		req := build()
		change(req)
		return req
	}
}

func header(kv ...string) func(*http.Request) {
	return func(req *http.Request) {
		for i := 0; i < len(kv); i += 2 {
			req.Header[kv[i]] = append(req.Header[kv[i]], kv[i+1])
		}
	}
}

type closeTracker struct {
	io.Reader
	closed *bool
}

func (c closeTracker) Close() error { *c.closed = true; return nil }

var (
	kib      = bytes.Repeat([]byte("0123456789abcdef"), 64)
	plainGet = memRequest("GET", "http://svc.ns:8080/path", nil, 0)
	post1k   = memRequest("POST", "http://svc.ns:8080/echo", kib, 1024)
	traceOn  = func(tr *httptrace.ClientTrace) func(*http.Request) {
		return func(req *http.Request) { *req = *req.WithContext(httptrace.WithClientTrace(context.Background(), tr)) }
	}
)

var writeCases = []struct {
	name  string
	fast  bool // simpleRequest's verdict
	build func() *http.Request
}{
	{"get default UA", true, plainGet},
	{"get empty UA", true, with(plainGet, header("User-Agent", ""))},
	{"get UA", true, with(plainGet, header("User-Agent", "curl/8.5"))},
	{"UA padded", true, with(plainGet, header("User-Agent", " \t padded ua \t"))},
	{"UA only spaces", true, with(plainGet, header("User-Agent", "   "))},
	{"UA two values", true, with(plainGet, header("User-Agent", "first", "User-Agent", "second"))},
	{"UA key without values", true, with(plainGet, func(r *http.Request) { r.Header["User-Agent"] = []string{} })},
	{"UA lowercase key", true, with(plainGet, header("user-agent", "low"))},
	{"excluded keys in map", true, with(plainGet, header("Host", "h", "Content-Length", "99", "Transfer-Encoding", "chunked", "Trailer", "X"))},
	{"head", true, memRequest("HEAD", "http://svc/", nil, 0)},
	{"delete", true, memRequest("DELETE", "http://svc/item/1", nil, 0)},
	{"options star", true, with(memRequest("OPTIONS", "http://svc/", nil, 0), func(r *http.Request) { r.URL.Path = "*" })},
	{"custom method", true, memRequest("PURGE", "http://svc/cache", nil, 0)},
	{"patch empty", true, memRequest("PATCH", "http://svc/", nil, 0)},
	{"post no body", true, memRequest("POST", "http://svc/", nil, 0)},
	{"put no body", true, memRequest("PUT", "http://svc/", nil, 0)},
	{"post NoBody", true, with(memRequest("POST", "http://svc/", nil, 0), func(r *http.Request) { r.Body = http.NoBody })},
	{"post 1", true, memRequest("POST", "http://svc/", []byte("x"), 1)},
	{"post 1k", true, post1k},
	{"put 1k", true, memRequest("PUT", "http://svc/", kib, 1024)},
	{"get with body", true, memRequest("GET", "http://svc/", []byte("abc"), 3)},
	{"body shorter than declared", true, memRequest("POST", "http://svc/", []byte("short"), 10)},
	{"body longer than declared", true, memRequest("POST", "http://svc/", []byte("longer body"), 5)},
	{"huge declared length", true, memRequest("POST", "http://svc/", []byte("abc"), 1<<63-1)},
	{"empty body declared 3", true, memRequest("POST", "http://svc/", []byte{}, 3)},
	{"strings.Reader body", true, func() *http.Request {
		r, _ := http.NewRequest("POST", "http://svc/", strings.NewReader("hello"))
		return r
	}},
	{"bytes.Buffer body", true, func() *http.Request {
		r, _ := http.NewRequest("POST", "http://svc/", bytes.NewBufferString("hello"))
		return r
	}},
	{"query", true, memRequest("GET", "http://svc/a?b=c&d=%20e", nil, 0)},
	{"force query", true, memRequest("GET", "http://svc/a?", nil, 0)},
	{"empty path", true, memRequest("GET", "http://svc", nil, 0)},
	{"escaped path", true, memRequest("GET", "http://svc/a%20b/%E2%82%AC", nil, 0)},
	{"raw path", true, memRequest("GET", "http://svc/a%2Fb/c", nil, 0)},
	{"path needing escapes", true, with(plainGet, func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/a b/\x01€?#", "" })},
	{"invalid raw path", true, with(plainGet, func(r *http.Request) { r.URL.RawPath = "/not%2Fthe-path" })},
	{"ipv6 host", true, memRequest("GET", "http://[::1]:8080/", nil, 0)},
	{"host override", true, with(plainGet, func(r *http.Request) { r.Host = "other.example:81" })},
	{"no host", true, func() *http.Request {
		return &http.Request{Method: "GET", URL: &url.URL{Path: "/x"}, Header: http.Header{}}
	}},
	{"nil header", true, func() *http.Request { return &http.Request{Method: "GET", URL: &url.URL{Host: "h", Path: "/x"}} }},
	{"multi values", true, with(plainGet, header("Accept", "text/html", "Accept", "application/json", "X-B", "1", "X-A", "2"))},
	{"empty value", true, with(plainGet, header("X-Empty", ""))},
	{"padded values", true, with(plainGet, header("X-Pad", "  lead", "X-Pad", "trail\t ", "X-Pad", " \t "))},
	{"odd values", true, with(plainGet, header("X-Odd", "\"q\", a=b; c\x80\xff", "X-Ctl", "a\x00b\x7fc\td"))},
	{"non-canonical keys", true, with(plainGet, header("x-lower", "1", "X-UPPER", "2", "x_under", "3"))},
	{"long header", true, with(plainGet, header("X-Long", strings.Repeat("v", 3000)))},
	{"header beyond buffer", true, with(plainGet, header("X-Long", strings.Repeat("v", 5000)))},
	{"1k body beyond small buffer", true, with(post1k, header("X-Long", strings.Repeat("v", 3050)))},
	{"trace without write hooks", true, with(plainGet, traceOn(&httptrace.ClientTrace{Got1xxResponse: func(int, textproto.MIMEHeader) error { return nil }}))},

	{"zone host", false, memRequest("GET", "http://[fe80::1%25eth0]:8080/", nil, 0)},
	{"percent host", false, with(plainGet, func(r *http.Request) { r.Host = "a%41b" })},
	{"unicode host", false, memRequest("GET", "http://bücher.example/", nil, 0)},
	{"invalid host", false, with(plainGet, func(r *http.Request) { r.Host = "a b/c" })},
	{"host with CRLF", false, with(plainGet, func(r *http.Request) { r.Host = "a\r\nX-Evil: 1" })},
	{"invalid header name", false, with(plainGet, header("Bad Name", "v"))},
	{"empty header name", false, with(plainGet, header("", "v"))},
	{"value with CRLF", false, with(plainGet, header("X-Split", "a\r\nX-Evil: 1"))},
	{"UA with LF", false, with(plainGet, header("User-Agent", "a\nb"))},
	{"close", false, with(plainGet, func(r *http.Request) { r.Close = true })},
	{"close with token", false, with(plainGet, func(r *http.Request) { r.Close = true; r.Header.Set("Connection", "close") })},
	{"transfer encoding", false, with(memRequest("POST", "http://svc/", []byte("abc"), -1), func(r *http.Request) { r.TransferEncoding = []string{"chunked"} })},
	{"unknown length", false, memRequest("POST", "http://svc/", []byte("abc"), -1)},
	{"zero length with body", false, memRequest("POST", "http://svc/", []byte("abc"), 0)},
	{"trailer", false, with(memRequest("POST", "http://svc/", []byte("abc"), 3), func(r *http.Request) { r.Trailer = http.Header{"X-T": nil} })},
	{"length with nil body", false, memRequest("POST", "http://svc/", nil, 5)},
	{"length with NoBody", false, with(memRequest("POST", "http://svc/", nil, 5), func(r *http.Request) { r.Body = http.NoBody })},
	{"streamed body", false, with(memRequest("POST", "http://svc/", nil, 3), func(r *http.Request) {
		r.Body = closeTracker{strings.NewReader("abc"), new(bool)}
	})},
	{"failing body", false, with(memRequest("POST", "http://svc/", nil, 3), func(r *http.Request) {
		r.Body = io.NopCloser(io.MultiReader(strings.NewReader("a"), iotestErr{}))
	})},
	{"trace with write hooks", false, with(plainGet, traceOn(&httptrace.ClientTrace{WroteHeaderField: func(string, []string) {}}))},
	{"opaque", false, with(plainGet, func(r *http.Request) { r.URL.Opaque = "//svc/opaque" })},
	{"ctl in query", false, with(plainGet, func(r *http.Request) { r.URL.RawQuery = "a=\x01" })},
	{"empty method", false, with(plainGet, func(r *http.Request) { r.Method = "" })},
	{"method with space", false, with(plainGet, func(r *http.Request) { r.Method = "GET /x HTTP/1.1\r\nX:" })},
	{"connect", false, func() *http.Request {
		return &http.Request{Method: "CONNECT", URL: &url.URL{Host: "svc:443"}, Host: "svc:443", Header: http.Header{}}
	}},
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("body read failed") }

func TestWriteRequestMatchesNetHTTP(t *testing.T) {
	for _, c := range writeCases {
		t.Run(c.name, func(t *testing.T) {
			if got := simpleRequest(c.build()); got != c.fast {
				t.Fatalf("simpleRequest = %v, want %v", got, c.fast)
			}
			assertSameWrite(t, c.build)
		})
	}
}

// The streamed body is closed by writeRequest as by req.Write.
func TestWriteRequestClosesBody(t *testing.T) {
	for _, w := range []func(*bufio.Writer, *http.Request) error{netHTTPWrite, writeRequest} {
		closed := false
		req, _ := http.NewRequest("POST", "http://svc/", nil)
		req.Body, req.ContentLength = closeTracker{strings.NewReader("abc"), &closed}, 3
		if err := w(bufio.NewWriter(io.Discard), req); err != nil || !closed {
			t.Fatalf("err %v, closed %v", err, closed)
		}
	}
}

// The fast path allocates nothing for a typical proxied request.
func TestWriteRequestAllocs(t *testing.T) {
	req, rd := benchRequest()
	bw := bufio.NewWriter(io.Discard)
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = rd.Seek(0, io.SeekStart)
		if err := writeRequest(bw, req); err != nil {
			t.Fatal(err)
		}
		_ = bw.Flush()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per request", allocs)
	}
}

func benchRequest() (*http.Request, *bytes.Reader) {
	rd := bytes.NewReader(kib)
	req, _ := http.NewRequest("POST", "http://echo.default.svc:8080/echo", rd)
	req.Header.Set("User-Agent", "hey/0.0.1")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "*/*")
	return req, rd
}

// BenchmarkWriteRequest: go test -run '^$' -bench WriteRequest -benchmem ./proxy/upstream/
func BenchmarkWriteRequest(b *testing.B) {
	for _, c := range []struct {
		name  string
		write func(*bufio.Writer, *http.Request) error
	}{{"net/http", netHTTPWrite}, {"ours", writeRequest}} {
		b.Run(c.name, func(b *testing.B) {
			req, rd := benchRequest()
			bw := bufio.NewWriter(io.Discard)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = rd.Seek(0, io.SeekStart)
				if err := c.write(bw, req); err != nil {
					b.Fatal(err)
				}
				_ = bw.Flush()
			}
		})
	}
}
