// Package accept runs a listener's accept loop for the proxy's listeners.
package accept

import (
	"context"
	"errors"
	"net"

	"github.com/meshkeeper/meshkeeper/proxy/rawio"
)

// Loop hands every accepted connection to handle in its own goroutine until
// ctx ends (a clean stop) or the listener fails.
func Loop(ctx context.Context, ln net.Listener, handle func(context.Context, net.Conn)) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go handle(ctx, rawio.Wrap(conn))
	}
}
