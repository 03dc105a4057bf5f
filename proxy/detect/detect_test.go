package detect

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	long := "GET /" + strings.Repeat("a", MaxRequestLine) + " HTTP/1.1\r\n"
	tests := []struct {
		name string
		in   string
		want Protocol
	}{
		{"empty", "", Undecided},
		{"http1 get", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP1},
		{"http1.0 exact line", "POST /a?b=c HTTP/1.0\r\n", HTTP1},
		{"http1 partial method", "GE", Undecided},
		{"http1 partial version", "GET / HTTP/1.", Undecided},
		{"http1 wrong version", "GET / HTTP/2.0\r\n", Opaque},
		{"http1 bare LF", "GET / HTTP/1.1\n", Opaque},
		{"http1 no target", "GET  HTTP/1.1\r\n", Opaque},
		{"http1 control char in target", "GET /\x01 HTTP/1.1\r\n", Opaque},
		{"request line too long", long, Opaque},
		{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00", HTTP2},
		{"h2 preface partial", "PRI * HTTP/2.0\r\n", Undecided},
		{"PRI as http1 method", "PRI * HTTP/1.1\r\n", HTTP1},
		{"tls record", "\x16\x03\x01\x02\x00", TLS},
		{"tls partial", "\x16\x03", Undecided},
		{"0x16 not tls", "\x16\x05", Opaque},
		{"redis", "*1\r\n$4\r\nPING\r\n", Opaque},
		{"binary", "\x00\x01\x02", Opaque},
		{"ssh banner", "SSH-2.0-OpenSSH_9\r\n", Opaque},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect([]byte(tt.in)); got != tt.want {
				t.Fatalf("Detect(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzDetect checks Detect never panics and that a decided answer never
// changes when more bytes arrive, which is what lets callers stop reading.
func FuzzDetect(f *testing.F) {
	for _, s := range []string{"GET / HTTP/1.1\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "\x16\x03\x01", "PRI * HTTP/1.1\r\n", "x"} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		full := Detect(b)
		if len(b) == 0 {
			return
		}
		if cut < 0 {
			cut = -cut
		}
		cut %= len(b) + 1
		if prefix := Detect(b[:cut]); prefix != Undecided && prefix != full {
			t.Fatalf("Detect(%q) = %v but its prefix %q decided %v", b, full, b[:cut], prefix)
		}
		_, _ = ClientHelloALPN(b)
	})
}

// clientHello captures the first bytes a real crypto/tls client sends.
func clientHello(t *testing.T, protos []string) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		cl := tls.Client(c, &tls.Config{ServerName: "x", NextProtos: protos, InsecureSkipVerify: true})
		_ = cl.HandshakeContext(context.Background())
		c.Close()
	}()
	var buf bytes.Buffer
	tmp := make([]byte, 64<<10)
	for {
		n, err := s.Read(tmp)
		buf.Write(tmp[:n])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ClientHelloALPN(buf.Bytes()); err != ErrNeedMore {
			return buf.Bytes()
		}
	}
}

func TestClientHelloALPN(t *testing.T) {
	hello := clientHello(t, []string{"meshkeeper/1", "h2"})
	if Detect(hello) != TLS {
		t.Fatalf("real ClientHello not detected as TLS")
	}
	got, err := ClientHelloALPN(hello)
	if err != nil || strings.Join(got, ",") != "meshkeeper/1,h2" {
		t.Fatalf("ALPN = %v, %v", got, err)
	}
	for i := 0; i < len(hello); i += 97 {
		if _, err := ClientHelloALPN(hello[:i]); err != ErrNeedMore {
			t.Fatalf("prefix %d: err = %v, want ErrNeedMore", i, err)
		}
	}
	none, err := ClientHelloALPN(clientHello(t, nil))
	if err != nil || len(none) != 0 {
		t.Fatalf("no ALPN: got %v, %v", none, err)
	}
	if _, err := ClientHelloALPN([]byte("\x16\x03\x01\x00\x02\x02\x00")); err == nil || err == ErrNeedMore {
		t.Fatalf("server hello type accepted: %v", err)
	}
}
