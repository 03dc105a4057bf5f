package upstream

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/netip"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// poolSeeds are hostile answers: framing tricks of response splitting and
// what must end a connection's life in the pool; testdata/fuzz holds what
// the fuzzer found beyond them.
var poolSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n2\r\nok\r\n0\r\nX-T: t\r\n\r\n",
	// Content-Length and Transfer-Encoding together, either order.
	"HTTP/1.1 200 OK\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 12\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
	// Two Content-Lengths, bad Content-Lengths.
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
	"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nok",
	// obs-fold and bare LF.
	"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nX-A: one\r\n Content-Length: 5\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\n0\n\n",
	// Huge, negative and extended chunk sizes.
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nok\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nok\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=\"x\"\r\nok\r\n0;y\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok",
	// Leftovers: a second response smuggled after the first.
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond",
	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nevil!!",
	"HTTP/1.1 204 No Content\r\nContent-Length: 6\r\n\r\nsecond",
	"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	// Informational responses, protocol switches, close-delimited bodies.
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: evil\r\n\r\n",
	"HTTP/1.1 200 OK\r\n\r\nuntil the end",
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
	"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
	"",
}

// FuzzH1PoolResponse answers the pool's request with hostile bytes: the
// pool returns an error, or what net/http's parser reads from the same
// bytes; and a connection goes back to the pool only after a response read
// whole, to its last byte, in framing nobody reads two ways: a second
// request then gets the second server answer, never leftovers.
func FuzzH1PoolResponse(f *testing.F) {
	for _, s := range poolSeeds {
		f.Add(false, []byte(s))
	}
	f.Add(true, []byte("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n"))
	f.Add(true, []byte("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"))
	f.Fuzz(checkPoolResponse)
}

func checkPoolResponse(t *testing.T, head bool, raw []byte) {
	if len(raw) > poolFuzzMaxInput {
		return
	}
	method := http.MethodGet
	if head {
		method = http.MethodHead
	}
	want := netHTTPReads(raw, &http.Request{Method: method})
	h := startHostile(t, raw, want.err == nil && !want.resp.closeAfter)
	p := newPool()
	t.Cleanup(func() { p.closeIdle(); _ = h.stop() }) // a second time is harmless; it matters after a failure
	got, err := poolReads(p, h.addr, method, "/first")
	switch {
	case want.err != nil && err == nil:
		t.Fatalf("pool read %+v where net/http fails (%v); raw %q", got, want.err, raw)
	case want.err == nil && err != nil:
		t.Fatalf("pool failed (%v) where net/http reads %+v; raw %q", err, want.resp, raw)
	case want.err == nil && !sameResponse(got, want.resp):
		t.Fatalf("pool read %+v, net/http %+v; raw %q", got, want.resp, raw)
	}
	second, err := poolReads(p, h.addr, http.MethodGet, "/second")
	p.closeIdle()
	served := h.stop()
	if err != nil || second.status != http.StatusOK || string(second.body) != secondBody {
		t.Fatalf("second request: %+v, err %v, after raw %q", second, err, raw)
	}
	if !want.reusable && len(served) > 1 && served[1] == 0 {
		t.Fatalf("connection reused after a response not read whole and unambiguously; raw %q", raw)
	}
}

// Every exec of the fuzz target ends what it started: a second round of
// the seeds leaves as many goroutines as the first.
func TestPoolFuzzRigLeavesNoGoroutines(t *testing.T) {
	round := func() int {
		for _, s := range poolSeeds {
			checkPoolResponse(t, false, []byte(s))
		}
		return settledGoroutines()
	}
	if before, after := round(), round(); after > before {
		t.Fatalf("goroutines %d after the first round of seeds, %d after the second", before, after)
	}
}

// settledGoroutines waits (boundedly) until the count holds still for 50ms.
func settledGoroutines() int {
	n, still := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(poolFuzzWait); still < 5 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := runtime.NumGoroutine(); m == n {
			still++
		} else {
			n, still = m, 0
		}
	}
	return n
}

// poolReads sends one request through p and reads its response whole.
func poolReads(p *h1Pool, addr netip.AddrPort, method, path string) (parsedResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), poolFuzzWait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, "http://"+addr.String()+path, nil)
	resp, err := p.RoundTrip(req, addr)
	if err != nil {
		return parsedResponse{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return parsedResponse{status: resp.StatusCode, header: resp.Header, trailer: resp.Trailer, body: body, closeAfter: resp.Close}, err
}

func sameResponse(a, b parsedResponse) bool {
	return a.status == b.status && reflect.DeepEqual(a.header, b.header) && reflect.DeepEqual(a.trailer, b.trailer) &&
		bytes.Equal(a.body, b.body) && a.closeAfter == b.closeAfter
}
