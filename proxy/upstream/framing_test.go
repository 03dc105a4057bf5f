package upstream

import (
	"bufio"
	"strings"
	"testing"
)

// BenchmarkPeekFraming measures what checking a typical response's framing
// adds to each response the HTTP/1 pool reads.
func BenchmarkPeekFraming(b *testing.B) {
	const resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\n" +
		"Server: app\r\nVary: Accept-Encoding\r\nContent-Length: 128\r\n\r\n"
	src := strings.NewReader(resp)
	br := bufio.NewReader(src)
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(resp)
		br.Reset(src)
		if f := peekFraming(br); !f.contentLength || f.transferEncoding {
			b.Fatalf("%+v", f)
		}
	}
}

// The header block is checked where it sits in the buffer: bare LF ends
// count, and a block too large to check is not trusted.
func TestPeekFraming(t *testing.T) {
	cases := []struct {
		raw     string
		cl, te  bool
		checked bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true, false, true},
		{"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n0\r\n\r\nContent-Length: 1\r\n", false, true, true},
		{"HTTP/1.1 200 OK\r\nX-A: a\r\n Content-Length: 1\r\n\r\n", false, false, true},
		{"HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("x", 5000) + "\r\n\r\n", false, false, false},
		{"HTTP/1.1 200 OK\r\n", false, false, false},
	}
	for _, tc := range cases {
		f := peekFraming(bufio.NewReader(strings.NewReader(tc.raw)))
		if f.contentLength != tc.cl || f.transferEncoding != tc.te || f.unseen == tc.checked {
			t.Errorf("%.40q: %+v, want Content-Length %v, Transfer-Encoding %v, checked %v", tc.raw, f, tc.cl, tc.te, tc.checked)
		}
	}
}
