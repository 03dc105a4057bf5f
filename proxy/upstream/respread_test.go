package upstream

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

// respCase is a response as bytes, the request's method, and whether the
// fast reader parses it itself (otherwise net/http does).
type respCase struct {
	name, raw string
	head      bool
	fast      bool
}

const typical = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: Fri, 04 Dec 2026 02:00:00 GMT\r\n\r\nhello"

var respCases = []respCase{
	{"typical", typical, false, true},
	{"typical pipelined", typical + "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnext", false, true},
	{"no reason", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", false, true},
	{"reason with space at end", "HTTP/1.1 404 Not Found \r\nContent-Length: 0\r\n\r\n", false, true},
	{"reason obs-text", "HTTP/1.1 200 \xc3\xa9t\xe9\tx\r\nContent-Length: 1\r\n\r\nx", false, true},
	{"repeated keys", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-A: 1\r\nSet-Cookie: b=2\r\nset-cookie: c=3\r\nContent-Length: 2\r\nX-A: 2\r\n\r\nok", false, true},
	{"non-canonical keys", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-weird_KEY.v2: v\r\nCONTENT-TYPE: a/b\r\netag: \"x\"\r\n\r\nok", false, true},
	{"empty values", "HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Blank:  \t \r\nContent-Length: 1\r\n\r\n1", false, true},
	{"values with spaces and tabs", "HTTP/1.1 200 OK\r\nX-A: \t a  b \t\r\nX-B:c\t\r\nContent-Length:\t 3 \t\r\n\r\nabc", false, true},
	{"obs-text value", "HTTP/1.1 200 OK\r\nX-A: caf\xe9 \xff\r\nContent-Length: 0\r\n\r\n", false, true},
	{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokrest", false, true},
	{"connection close among tokens", "HTTP/1.1 200 OK\r\nConnection: Upgrade\r\nConnection: foo, CLOSE \r\nContent-Length: 2\r\n\r\nok", false, true},
	{"connection closed (not close)", "HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 2\r\n\r\nok", false, true},
	{"connection keep-alive", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok", false, true},
	{"HEAD with CL", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\n", true, true},
	{"HEAD without CL", "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nleft", true, true},
	{"HEAD with two identical CLs", "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", true, true},
	{"204 with CL", "HTTP/1.1 204 No Content\r\nContent-Length: 6\r\n\r\nsecond", false, true},
	{"204 without CL", "HTTP/1.1 204 No Content\r\n\r\nsecond", false, true},
	{"304 with CL", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: x\r\n\r\n", false, true},
	{"304 without CL", "HTTP/1.1 304 Not Modified\r\n\r\n", false, true},
	{"CL 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n", false, true},
	{"CL leading zeros", "HTTP/1.1 200 OK\r\nContent-Length: 0002\r\n\r\nokmore", false, true},
	{"CL 18 digits", "HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\nshort", false, true},
	{"two identical CLs", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\ncontent-length: 2\r\n\r\nokmore", false, true},
	{"body shorter than CL", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", false, true},
	{"500", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nerr", false, true},
	{"599", "HTTP/1.1 599 x\r\nContent-Length: 3\r\n\r\nerr", false, true},

	// Left to net/http.
	{"two different CLs", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!", false, false},
	{"two CLs differing in zeros", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 02\r\n\r\nok!", false, false},
	{"two different CLs on 204", "HTTP/1.1 204 No Content\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", false, false},
	{"CL plus", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", false, false},
	{"CL minus", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok", false, false},
	{"CL inner space", "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\nok", false, false},
	{"CL empty", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nok", false, false},
	{"CL 19 digits", "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\nok", false, false},
	{"CL overflow", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nok", false, false},
	{"CL bad on HEAD", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", true, false},
	{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", false, false},
	{"bare LF in one line", "HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 2\r\n\r\nok", false, false},
	{"bare LF ends block", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nok", false, false},
	{"bare CR", "HTTP/1.1 200 OK\r\nX-A: 1\rContent-Length: 9\r\nContent-Length: 2\r\n\r\nok", false, false},
	{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 2\r\n\r\nok", false, false},
	{"obs-fold hiding CL", "HTTP/1.1 200 OK\r\nX-A: one\r\n Content-Length: 5\r\nContent-Length: 2\r\n\r\nok", false, false},
	{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", false, false},
	{"empty key", "HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 2\r\n\r\nok", false, false},
	{"no colon", "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\nok", false, false},
	{"control byte in value", "HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 2\r\n\r\nok", false, false},
	{"DEL in value", "HTTP/1.1 200 OK\r\nX-A: a\x7fb\r\nContent-Length: 2\r\n\r\nok", false, false},
	{"TE chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nnext", false, false},
	{"TE and CL", "HTTP/1.1 200 OK\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false, false},
	{"Trailer", "HTTP/1.1 200 OK\r\nTrailer: X-T\r\nContent-Length: 2\r\n\r\nok", false, false},
	{"Pragma", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\nok", false, false},
	{"read until close", "HTTP/1.1 200 OK\r\n\r\nuntil the end", false, false},
	{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false},
	{"HTTP/2.0", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, false},
	{"100 continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false},
	{"103 with CL", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, false},
	{"101 with CL", "HTTP/1.1 101 Switching Protocols\r\nContent-Length: 2\r\n\r\nok", false, false},
	{"101", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n", false, false},
	{"status 999", "HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n", false, false},
	{"status 042", "HTTP/1.1 042 Odd\r\nContent-Length: 0\r\n\r\n", false, false},
	{"status +20", "HTTP/1.1 +20 Odd\r\nContent-Length: 0\r\n\r\n", false, false},
	{"status glued to reason", "HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n", false, false},
	{"two spaces before status", "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", false, false},
	{"tab before reason", "HTTP/1.1 200\tOK\r\nContent-Length: 0\r\n\r\n", false, false},
	{"lower-case proto", "http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, false},
	{"header block cut", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false, false},
	{"empty", "", false, false},
}

func TestReadResponseDifferential(t *testing.T) {
	for _, c := range respCases {
		t.Run(c.name, func(t *testing.T) {
			for _, limit := range []int{1 << 30, 0, 1, 3} {
				fast, err := compareReaders([]byte(c.raw), c.head, limit)
				if err != nil {
					t.Fatalf("read then close after %d bytes: %v", limit, err)
				}
				if fast != c.fast {
					t.Fatalf("parsed by the fast reader: %v, want %v", fast, c.fast)
				}
			}
		})
	}
}

// TestReadResponseSharesNoBacking: appending to one key's values never
// changes another's, as with net/http's one backing array.
func TestReadResponseSharesNoBacking(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\nContent-Length: 0\r\n\r\n"
	br := bufio.NewReader(strings.NewReader(raw))
	_, _ = br.Peek(1)
	resp, err := readResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	resp.Header.Add("X-A", "added")
	if got := resp.Header["X-B"]; !reflect.DeepEqual(got, []string{"2"}) {
		t.Fatalf("X-B = %q after an append to X-A", got)
	}
}

// compareReaders reads raw as a response to a GET (HEAD if head) with
// net/http and with readResponse, each from its own reader primed as
// h1Pool.exchange primes it, reads up to limit body bytes then closes the
// body, and reports the first difference; fast tells who parsed it.
func compareReaders(raw []byte, head bool, limit int) (fast bool, _ error) {
	method := http.MethodGet
	if head {
		method = http.MethodHead
	}
	req := &http.Request{Method: method}
	want := bufio.NewReader(bytes.NewReader(raw))
	got := bufio.NewReader(bytes.NewReader(raw))
	peekFraming(want)
	peekFraming(got)
	buf, _ := got.Peek(got.Buffered())
	_, fast = simpleHead(buf, head)

	wresp, werr := http.ReadResponse(want, req)
	gresp, gerr := readResponse(got, req)
	if fmt.Sprint(werr) != fmt.Sprint(gerr) {
		return fast, fmt.Errorf("error %v, net/http %v", gerr, werr)
	}
	if fast && werr != nil {
		return fast, fmt.Errorf("fast reader parsed what net/http rejects: %v", werr)
	}
	if werr == nil {
		if err := sameParsedResponse(gresp, wresp); err != nil {
			return fast, err
		}
		if (wresp.Body == http.NoBody) != (gresp.Body == http.NoBody) {
			return fast, fmt.Errorf("body NoBody %v, net/http %v", gresp.Body == http.NoBody, wresp.Body == http.NoBody)
		}
		if g, w := readClose(gresp.Body, limit), readClose(wresp.Body, limit); g != w {
			return fast, fmt.Errorf("body reads\n%s\nnet/http\n%s", g, w)
		}
	}
	wrest, _ := io.ReadAll(want)
	grest, _ := io.ReadAll(got)
	if !bytes.Equal(wrest, grest) {
		return fast, fmt.Errorf("left in the reader %q, net/http %q", grest, wrest)
	}
	return fast, nil
}

func sameParsedResponse(g, w *http.Response) error {
	type fields struct {
		Status                 string
		StatusCode             int
		Proto                  string
		ProtoMajor, ProtoMinor int
		Header                 http.Header
		ContentLength          int64
		TransferEncoding       []string
		Close, Uncompressed    bool
		Trailer                http.Header
		Request                *http.Request
	}
	pick := func(r *http.Response) fields {
		return fields{r.Status, r.StatusCode, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Header,
			r.ContentLength, r.TransferEncoding, r.Close, r.Uncompressed, r.Trailer, r.Request}
	}
	if gf, wf := pick(g), pick(w); !reflect.DeepEqual(gf, wf) {
		return fmt.Errorf("response\n%#v\nnet/http\n%#v", gf, wf)
	}
	return nil
}

// readClose reads b in small pieces until limit bytes or an error, closes
// it and reads once more, and writes down every step.
func readClose(b io.ReadCloser, limit int) string {
	var log strings.Builder
	p := make([]byte, 7)
	for total := 0; total < limit; {
		n, err := b.Read(p[:min(len(p), limit-total)])
		total += n
		fmt.Fprintf(&log, "read %q %v\n", p[:n], err)
		if err != nil {
			break
		}
	}
	fmt.Fprintf(&log, "close %v\n", b.Close())
	n, err := b.Read(p)
	fmt.Fprintf(&log, "read after close %d %v\n", n, err)
	return log.String()
}

// FuzzResponseReadDifferential: whatever the bytes, readResponse returns
// what http.ReadResponse returns and leaves the same bytes unread; and
// where the fast reader parses a response, net/http accepts it. The bytes
// are also read as the field lines of a well-formed head (framed), as
// arbitrary bytes rarely stay inside the fast reader's subset.
func FuzzResponseReadDifferential(f *testing.F) {
	for _, c := range respCases {
		f.Add(c.head, uint16(1<<15), []byte(c.raw))
	}
	f.Add(false, uint16(3), []byte(typical+"rest"))
	f.Add(false, uint16(1<<15), []byte("Content-Length: 3\nX-A: 1\nx-a:2\nConnection: close\n\nabcdef"))
	f.Fuzz(func(t *testing.T, head bool, limit uint16, raw []byte) {
		if _, err := compareReaders(raw, head, int(limit)); err != nil {
			t.Fatal(err)
		}
		if _, err := compareReaders(framed(raw, limit), head, int(limit)); err != nil {
			t.Fatal(err)
		}
	})
}

// framed puts raw's lines, ended by CRLF, after a status line (200, 204,
// 304 or 500 by the low bits of sel) and ends the head after them.
func framed(raw []byte, sel uint16) []byte {
	status := []string{"200 OK", "204 No Content", "304 Not Modified", "500 Oops"}[sel%4]
	lines := strings.Split(string(raw), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return []byte("HTTP/1.1 " + status + "\r\n" + strings.Join(lines, "\r\n") + "\r\n\r\n")
}

func BenchmarkReadResponse(b *testing.B) {
	raw := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\nDate: Fri, 04 Dec 2026 02:00:00 GMT\r\n\r\n" + strings.Repeat("x", 1024))
	req := &http.Request{Method: http.MethodGet}
	for _, r := range []struct {
		name string
		read func(*bufio.Reader, *http.Request) (*http.Response, error)
	}{{"net-http", http.ReadResponse}, {"fast", readResponse}} {
		b.Run(r.name, func(b *testing.B) {
			src := bytes.NewReader(raw)
			br := bufio.NewReader(src)
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(raw)
				br.Reset(src)
				_, _ = br.Peek(1)
				resp, err := r.read(br, req)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, resp.Body); n != 1024 || err != nil {
					b.Fatal(n, err)
				}
				if err := resp.Body.Close(); err != nil && !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
			}
		})
	}
}
