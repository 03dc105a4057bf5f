//go:build meshkeeper_faults

package httpfwd

import "net/http"

// The test-only fault injection (builds for tests only).

const faultMessage = "fault injected by the meshkeeper proxy"

// writeFault answers an injected fault: 503, or for a gRPC call a
// trailers-only UNAVAILABLE (HTTP 200), which is how gRPC servers fail.
func writeFault(w http.ResponseWriter, r *http.Request, t *tracker) {
	if !t.obs.GRPC {
		http.Error(w, faultMessage, http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", r.Header.Get("Content-Type"))
	h.Set("Grpc-Status", "14")
	h.Set("Grpc-Message", faultMessage)
	t.mu.Lock()
	t.obs.GRPCStatus = "14"
	t.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *Server) faulted() bool { return s.cfg.Fault != nil && s.cfg.Fault() }
