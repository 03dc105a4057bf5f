package httpfwd

import (
	"bytes"
	"runtime"
	"testing"
	"time"
)

// fastPathSeeds are the framing tricks of request smuggling and the
// pipelines the fast path must keep apart; testdata/fuzz holds what the
// fuzzer found beyond them.
var fastPathSeeds = []string{
	"GET / HTTP/1.1\r\nHost: web\r\n\r\n",
	// Content-Length and Transfer-Encoding together, either order.
	"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: web\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: web\r\n\r\n",
	// Two Content-Lengths, equal and not.
	"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
	"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3, 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: +3\r\n\r\nabc",
	// obs-fold.
	"GET / HTTP/1.1\r\nHost: web\r\nX-A: one\r\n two\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: web\r\n Host: other\r\n\r\n",
	// Bare LF line ends.
	"GET / HTTP/1.1\nHost: web\n\n",
	"POST / HTTP/1.1\r\nHost: web\nContent-Length: 2\r\n\r\nokGET / HTTP/1.1\r\nHost: web\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\n0\n\n",
	// Huge, negative and extended chunk sizes.
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0;x\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
	// Transfer codings other than plain chunked.
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.0\r\nHost: web\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	// Host: duplicate, missing, empty, against the absolute form.
	"GET / HTTP/1.1\r\nHost: web\r\nHost: other\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost:\r\n\r\n",
	"GET http://other/path?q=1 HTTP/1.1\r\nHost: web\r\n\r\n",
	"GET http://other HTTP/1.1\r\nHost: other\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: web:8080/x\r\n\r\n",
	// Pipelines with bodies, and Connection: close in the middle.
	"POST /a HTTP/1.1\r\nHost: web\r\nContent-Length: 1\r\n\r\naPOST /b HTTP/1.1\r\nHost: web\r\nContent-Length: 2\r\n\r\nbbGET /c HTTP/1.1\r\nHost: web\r\n\r\n",
	"GET /a HTTP/1.1\r\nHost: web\r\n\r\nPOST /b HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\nGET /c HTTP/1.1\r\nHost: web\r\n\r\n",
	"GET /a HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: web\r\n\r\n",
	"GET /a HTTP/1.0\r\nHost: web\r\n\r\nGET /b HTTP/1.1\r\nHost: web\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: web\r\nContent-Length: 10\r\n\r\nshort",
	// Expect: 100-continue, with and without its body.
	"POST / HTTP/1.1\r\nHost: web\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabcGET /next HTTP/1.1\r\nHost: web\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nExpect: something-else\r\nContent-Length: 3\r\n\r\nabc",
	// Odd request lines, header names and hop-by-hop headers.
	"OPTIONS * HTTP/1.1\r\nHost: web\r\n\r\n",
	"GET /a#frag?x HTTP/1.1\r\nHost: web\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: web\r\nBad Name: x\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nTransfer Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: web\r\nX-A: a\x00b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: web\r\nConnection: Content-Length\r\nContent-Length: 0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: web\r\nConnection: keep-alive, Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
}

// FuzzFastPathDifferential sends raw client bytes (one connection, possibly
// several pipelined requests) to net/http's server and to the proxy with its
// HTTP/1.1 fast path: the proxy must forward nothing net/http refuses, and
// forward what it accepts unchanged and unambiguously framed.
func FuzzFastPathDifferential(f *testing.F) {
	for _, s := range fastPathSeeds {
		f.Add([]byte(s))
	}
	oracle := newNetHTTPOracle(f)
	rig := newProxyRig(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		// The sniffer hands a connection opening with the HTTP/2 preface to
		// the HTTP/2 server directly; it never reaches the fast path.
		if len(input) > fuzzMaxInput || bytes.HasPrefix(input, []byte("PRI * HTTP/2.0")) {
			return
		}
		accepted := oracle.accepted(t, input)
		for _, a := range accepted {
			if a.ProtoMajor != 1 {
				return // HTTP/2 (h2c) is out of this target's scope
			}
		}
		checkDifferential(t, input, accepted, rig.forwarded(t, input, accepted))
	})
}

// Every exec of the fuzz target ends what it started: after a second round
// of the seeds, the goroutines return to their number after the first
// (within fuzzWait: net/http lingers 500ms before closing some connections).
func TestFastPathFuzzRigLeavesNoGoroutines(t *testing.T) {
	oracle, rig := newNetHTTPOracle(t), newProxyRig(t)
	round := func() {
		for _, s := range fastPathSeeds {
			rig.forwarded(t, []byte(s), oracle.accepted(t, []byte(s)))
		}
	}
	round()
	before := settledGoroutines()
	round()
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(fuzzWait); after > before && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		after = runtime.NumGoroutine()
	}
	if after > before {
		t.Fatalf("goroutines %d after the first round of seeds, %d after the second", before, after)
	}
}

// settledGoroutines waits (boundedly) until the count holds still for 600ms.
func settledGoroutines() int {
	n, still := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(fuzzWait); still < 60 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := runtime.NumGoroutine(); m == n {
			still++
		} else {
			n, still = m, 0
		}
	}
	return n
}
