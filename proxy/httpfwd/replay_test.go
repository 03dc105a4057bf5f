package httpfwd

import (
	"bytes"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// reading is a transport whose attempts read up to take bytes of the body
// (all of it when take < 0), record them, then answer.
type reading struct {
	take    []int
	answers []func() (*http.Response, error)
	got     [][]byte
}

func (s *reading) RoundTrip(r *http.Request) (*http.Response, error) {
	i := len(s.got)
	var got []byte
	if r.Body != nil {
		if s.take[i] < 0 {
			got, _ = io.ReadAll(r.Body)
		} else {
			got = make([]byte, s.take[i])
			n, _ := io.ReadFull(r.Body, got)
			got = got[:n]
		}
	}
	s.got = append(s.got, got)
	return s.answers[i]()
}

// streamed hides a body's length and bytes from net/http, as a client's
// HTTP/2 or chunked body arrives.
type streamBody struct{ io.Reader }

func (streamBody) Close() error { return nil }

func newStreamedRequest(body []byte) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, "http://backend/", nil)
	req.Body, req.ContentLength = streamBody{bytes.NewReader(body)}, -1
	return req.WithContext(upstream.WithTarget(req.Context(), discovery.Target{Addr: netip.MustParseAddrPort("198.18.10.1:8080"), Identity: peerID}))
}

func TestRetryingReplaysSmallBodies(t *testing.T) {
	small := []byte("a gRPC unary call")
	max := bytes.Repeat([]byte("m"), replayMax)
	over := bytes.Repeat([]byte("o"), replayMax+1)
	upload := bytes.Repeat([]byte("u"), 1<<20)
	cases := []struct {
		name    string
		body    []byte
		take    []int
		answers []func() (*http.Response, error)
		status  int
	}{
		{"refused before the body was read", small, []int{0, -1}, []func() (*http.Response, error){refused, ok}, 200},
		{"the peer's app is gone after the body went out", small, []int{-1, -1}, []func() (*http.Response, error){appGone, ok}, 200},
		{"a body of replayMax is replayed", max, []int{-1, -1}, []func() (*http.Response, error){appGone, ok}, 200},
		{"an upload whose start went out continues", upload, []int{1000, -1}, []func() (*http.Response, error){appGone, ok}, 200},
		{"a POST the peer's app reset is not replayed", small, []int{-1}, []func() (*http.Response, error){appReset, ok}, 502},
		{"a body past replayMax is not replayed", over, []int{-1}, []func() (*http.Response, error){appGone, ok}, 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := &reading{take: tc.take, answers: tc.answers}
			n := 0
			rt, _ := newTestRetrying(next, func(*http.Request) discovery.Target {
				n++
				return discovery.Target{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 10, byte(1 + n)}), 8080), Identity: peerID}
			})
			resp, err := rt.RoundTrip(newStreamedRequest(tc.body))
			if err != nil || resp.StatusCode != tc.status {
				t.Fatalf("status %v err %v, want %d", resp, err, tc.status)
			}
			if len(next.got) != len(tc.take) {
				t.Fatalf("%d attempts, want %d", len(next.got), len(tc.take))
			}
			if last := next.got[len(next.got)-1]; len(tc.take) > 1 && !bytes.Equal(last, tc.body) {
				t.Fatalf("the retry sent %d bytes, want the whole body of %d", len(last), len(tc.body))
			}
		})
	}
}

// stalled is a transport whose attempts read the body in a writer goroutine,
// as net/http's HTTP/2 transport does, and whose response's Close waits for
// that writer, as it does too.
type stalled struct {
	answers []func() (*http.Response, error)
	read    []chan []byte
}

func (s *stalled) RoundTrip(r *http.Request) (*http.Response, error) {
	i := len(s.read)
	ch := make(chan []byte, 1)
	s.read = append(s.read, ch)
	go func() {
		b, _ := io.ReadAll(r.Body)
		ch <- b
	}()
	resp, err := s.answers[i]()
	if resp != nil {
		resp.Body = waitingBody{ReadCloser: resp.Body, writer: ch}
	}
	return resp, err
}

type waitingBody struct {
	io.ReadCloser
	writer chan []byte
}

func (w waitingBody) Close() error {
	w.writer <- <-w.writer // the body's writer is done
	return w.ReadCloser.Close()
}

// A bidirectional stream whose client sends only after the response's
// headers is retried without waiting for its body: the failed attempt's
// writer lets go, and the retry carries what the client sends next.
func TestRetryingDoesNotWaitForAStreamedBody(t *testing.T) {
	pr, pw := io.Pipe()
	next := &stalled{answers: []func() (*http.Response, error){appGone, ok}}
	rt, _ := newTestRetrying(next, func(*http.Request) discovery.Target {
		return discovery.Target{Addr: netip.MustParseAddrPort("198.18.10.2:8080"), Identity: peerID}
	})
	req := newStreamedRequest(nil)
	req.Body = pr
	done := make(chan *http.Response, 1)
	go func() {
		resp, _ := rt.RoundTrip(req)
		done <- resp
	}()
	select {
	case resp := <-done:
		if resp == nil || resp.StatusCode != 200 || len(next.read) != 2 {
			t.Fatalf("response %v after %d attempts, want the retry's 200", resp, len(next.read))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the retry waited for a body the client sends only after the response")
	}
	_, _ = pw.Write([]byte("ping"))
	_ = pw.Close()
	if got := <-next.read[1]; string(got) != "ping" {
		t.Fatalf("the retry sent %q, want ping", got)
	}
}

// After the attempts, the last one's Close reaches the client's body, so a
// transport can unblock its writer as without retries.
func TestReplayBodyCloseAfterCommit(t *testing.T) {
	pr, _ := io.Pipe()
	r := newReplayBody(pr)
	body, _ := r.attempt()
	r.commit()
	read := make(chan error, 1)
	go func() {
		_, err := body.Read(make([]byte, 8))
		read <- err
	}()
	time.Sleep(10 * time.Millisecond)
	_ = body.Close()
	select {
	case err := <-read:
		if err == nil {
			t.Fatal("read after Close succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a blocked Read")
	}
}
