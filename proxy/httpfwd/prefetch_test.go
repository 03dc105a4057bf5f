package httpfwd

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestPrefetchBody(t *testing.T) {
	t.Run("a body at hand is handed over in memory", func(t *testing.T) {
		r, _ := http.NewRequest(http.MethodPost, "http://x/", io.NopCloser(strings.NewReader("hello")))
		r.ContentLength = 5
		prefetchBody(r)
		if _, streamed := r.Body.(*prefetched); streamed {
			t.Fatalf("body %T not in memory", r.Body)
		}
		if b, _ := io.ReadAll(r.Body); string(b) != "hello" {
			t.Fatalf("body %q", b)
		}
	})
	t.Run("a slow body is streamed, first bytes first", func(t *testing.T) {
		pr, pw := io.Pipe()
		r, _ := http.NewRequest(http.MethodPost, "http://x/", pr)
		r.ContentLength = 6
		start := time.Now()
		prefetchBody(r)
		if waited := time.Since(start); waited > time.Second {
			t.Fatalf("waited %v for a slow body", waited)
		}
		if _, ok := r.Body.(*prefetched); !ok {
			t.Fatalf("body %T", r.Body)
		}
		go func() {
			_, _ = pw.Write([]byte("abc"))
			_, _ = pw.Write([]byte("def"))
			_ = pw.Close()
		}()
		if b, err := io.ReadAll(r.Body); string(b) != "abcdef" || err != nil {
			t.Fatalf("body %q, %v", b, err)
		}
	})
	t.Run("Expect, unknown length and large bodies are left alone", func(t *testing.T) {
		for _, tc := range []struct {
			length int64
			expect string
		}{{5, "100-continue"}, {-1, ""}, {prefetchMax + 1, ""}} {
			body := io.NopCloser(bytes.NewReader(make([]byte, 8)))
			r, _ := http.NewRequest(http.MethodPost, "http://x/", body)
			r.ContentLength = tc.length
			if tc.expect != "" {
				r.Header.Set("Expect", tc.expect)
			}
			prefetchBody(r)
			if r.Body != body {
				t.Fatalf("length %d expect %q: body replaced", tc.length, tc.expect)
			}
		}
	})
}
