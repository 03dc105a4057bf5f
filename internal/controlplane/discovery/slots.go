package discovery

import (
	"errors"
	"net"
	"sync"
)

// slots counts open streams, in total and per caller address.
type slots struct {
	max, perIP int

	mu    sync.Mutex
	total int
	byIP  map[string]int
}

func newSlots(max, perIP int) *slots {
	return &slots{max: max, perIP: perIP, byIP: map[string]int{}}
}

var (
	errTooManyWatchers = errors.New("discovery has too many watchers")
	errTooManyFromIP   = errors.New("too many discovery watchers from this address")
)

// take reserves a slot for ip and returns its release, or an error when a cap is reached.
func (s *slots) take(ip string) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.total >= s.max:
		return nil, errTooManyWatchers
	case s.byIP[ip] >= s.perIP:
		return nil, errTooManyFromIP
	}
	s.total++
	s.byIP[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.total--
			if s.byIP[ip]--; s.byIP[ip] == 0 {
				delete(s.byIP, ip)
			}
		})
	}, nil
}

// remoteIP is the host part of an http.Request's RemoteAddr.
func remoteIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}
