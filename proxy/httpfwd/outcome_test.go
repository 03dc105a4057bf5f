package httpfwd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

func TestErrorKind(t *testing.T) {
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	here := context.Background()
	tests := []struct {
		name   string
		err    error
		client context.Context
		want   string
	}{
		{"connection refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, here, contract.ErrorConnect},
		{"mesh handshake refused", fmt.Errorf("mesh handshake with 10.0.0.1:80 (spiffe://x): %w", tls.AlertError(42)), here, contract.ErrorConnect},
		{"identity mismatch", errors.New("mesh handshake with 10.0.0.1:80: peer did not negotiate the mesh ALPN"), here, contract.ErrorConnect},
		{"deadline", context.DeadlineExceeded, here, contract.ErrorTimeout},
		{"read deadline", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, here, contract.ErrorTimeout},
		{"closed mid-body", io.ErrUnexpectedEOF, here, contract.ErrorUpstreamReset},
		{"closed before answering", io.EOF, here, contract.ErrorUpstreamReset},
		{"connection reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, here, contract.ErrorUpstreamReset},
		{"HTTP/2 stream reset", errors.New("stream error: stream ID 3; INTERNAL_ERROR; received from peer"), here, contract.ErrorUpstreamReset},
		{"HTTP/2 GOAWAY", errors.New("http2: server sent GOAWAY and closed the connection; LastStreamID=1"), here, contract.ErrorUpstreamReset},
		{"malformed answer", errors.New(`net/http: HTTP/1.x transport connection broken: malformed HTTP status code "x"`), here, contract.ErrorUpstream},
		{"anything while the client is gone", io.ErrUnexpectedEOF, gone, contract.ErrorClientCancel},
		{"cancelled by the client", context.Canceled, gone, contract.ErrorClientCancel},
	}
	for _, tt := range tests {
		if got := errorKind(tt.err, tt.client); got != tt.want {
			t.Errorf("%s: errorKind(%v) = %s, want %s", tt.name, tt.err, got, tt.want)
		}
	}
}
