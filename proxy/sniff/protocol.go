package sniff

import (
	"errors"
	"net"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/detect"
)

// Protocol sniffs until detect can classify the stream; for TLS it waits for
// the whole ClientHello record so its ALPN can be read. A stream that says
// nothing within timeout (a server-first protocol) is opaque.
func Protocol(conn net.Conn, timeout time.Duration) (*Conn, detect.Protocol, error) {
	c, err := Peek(conn, timeout, detect.MaxRecord, func(b []byte) bool {
		switch detect.Detect(b) {
		case detect.Undecided:
			return false
		case detect.TLS:
			_, err := detect.ClientHelloALPN(b)
			return !errors.Is(err, detect.ErrNeedMore)
		default:
			return true
		}
	})
	if err != nil {
		return nil, detect.Opaque, err
	}
	p := detect.Detect(c.Prefix())
	if p == detect.Undecided {
		p = detect.Opaque
	}
	return c, p, nil
}
