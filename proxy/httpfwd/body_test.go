package httpfwd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// writeCounter counts the writes that reach the connection.
type writeCounter struct{ writes int }

func (w *writeCounter) Write(p []byte) (int, error) { w.writes++; return len(p), nil }

// streamed is a body net/http cannot know is in memory, as a server's is.
func streamed(s string) io.ReadCloser {
	return io.NopCloser(struct{ io.Reader }{strings.NewReader(s)})
}

func writesOnTheWire(t *testing.T, r *http.Request) int {
	t.Helper()
	var c writeCounter
	bw := bufio.NewWriter(&c)
	if err := r.Write(bw); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return c.writes
}

func TestSmallBodyLeavesWithItsHeaders(t *testing.T) {
	body := strings.Repeat("m", 1024)
	newReq := func(b io.ReadCloser) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://app/echo", nil)
		r.Body, r.ContentLength = b, int64(len(body))
		return r
	}
	if n := writesOnTheWire(t, newReq(streamed(body))); n != 2 {
		t.Fatalf("a streamed body left in %d writes; the premise of readSmallBody changed", n)
	}
	r := newReq(streamed(body))
	readSmallBody(r)
	if n := writesOnTheWire(t, r); n != 1 {
		t.Fatalf("request left in %d writes, want 1", n)
	}

	big := newReq(streamed(strings.Repeat("m", smallBodyMax+1)))
	big.ContentLength = smallBodyMax + 1
	orig := big.Body
	readSmallBody(big)
	if big.Body != orig {
		t.Fatal("a large body was read ahead instead of streamed")
	}
}

func TestSmallBodyThatBreaksOffKeepsItsError(t *testing.T) {
	r, _ := http.NewRequest(http.MethodPost, "http://app/echo", nil)
	r.Body, r.ContentLength = streamed("half"), 8
	readSmallBody(r)
	got, err := io.ReadAll(r.Body)
	if !bytes.Equal(got, []byte("half")) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read %q, %v; want the part that came, then io.ErrUnexpectedEOF", got, err)
	}
}

func TestSmallResponseLeavesWithItsHeaders(t *testing.T) {
	for _, size := range []int{1, 1024, 3 << 10} {
		var c writeCounter
		bw := bufio.NewWriterSize(&c, 4<<10)
		req, _ := http.NewRequest(http.MethodPost, "http://app/echo", nil)
		resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/plain"}},
			ContentLength: int64(size), Body: streamed(strings.Repeat("m", size))}
		if !writeResponse(bw, req, resp, false) {
			t.Fatalf("%d bytes: writeResponse reported the connection unusable", size)
		}
		if c.writes != 1 {
			t.Fatalf("a %d-byte response left in %d writes, want 1", size, c.writes)
		}
	}
}
