package upstream

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzRequestWriteDifferential builds a request from the inputs and requires
// writeRequest to write what req.Write writes, with the same error, whether
// or not the request is in the fast path's subset.
func FuzzRequestWriteDifferential(f *testing.F) {
	f.Add("POST", "/echo?x=1", "svc.ns:8080", "Content-Type", "application/json", "User-Agent", "hey/0.0.1", "Accept", "*/*", uint16(1024), int64(1024), uint8(2))
	f.Add("GET", "/a%2Fb", "[::1]:80", "user-agent", " x ", "X-A", "", "X-A", "b", uint16(0), int64(0), uint8(0))
	f.Add("PUT", "/", "h", "X", "v", "Host", "other", "Content-Length", "9", uint16(5), int64(3), uint8(3))
	f.Add("PATCH", "/p?", "", "Bad Key", "v", "X", "a\r\nb", "Y", "\t", uint16(2), int64(7), uint8(4))
	f.Add("GET", "/", "[fe80::1%eth0]:1", "X", "v", "Y", "w", "Z", "z", uint16(0), int64(0), uint8(1))
	f.Fuzz(func(t *testing.T, method, target, host, k1, v1, k2, v2, k3, v3 string, bodyLen uint16, declared int64, mode uint8) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			t.Skip()
		}
		assertSameWrite(t, func() *http.Request {
			req := &http.Request{Method: method, URL: cloneURL(u), Host: host, Header: http.Header{}, ContentLength: declared}
			for _, kv := range [][2]string{{k1, v1}, {k2, v2}, {k3, v3}} {
				req.Header[kv[0]] = append(req.Header[kv[0]], kv[1])
			}
			req.Body = fuzzBody(mode%5, int(bodyLen)%6000)
			req.Close = mode&0x80 != 0
			return req
		})
	})
}

func cloneURL(u *url.URL) *url.URL {
	c := *u
	return &c
}

// fuzzBody returns no body, NoBody or n bytes in one of net/http's
// in-memory readers.
func fuzzBody(kind uint8, n int) io.ReadCloser {
	b := bytes.Repeat([]byte{'b'}, n)
	switch kind {
	case 1:
		return http.NoBody
	case 2:
		return io.NopCloser(bytes.NewReader(b))
	case 3:
		return io.NopCloser(strings.NewReader(string(b)))
	case 4:
		return io.NopCloser(bytes.NewBuffer(b))
	}
	return nil
}
