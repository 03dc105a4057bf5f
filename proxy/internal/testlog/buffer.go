// Package testlog holds a log sink for the proxy's tests. It is never linked
// into the proxy.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for proxies that log from many goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
