package httpfwd

import (
	"net/http"
)

// statusWriter gives its tracker the status and when response headers left, and stops
// net/http from adding Content-Type or Date the upstream did not send.
// Unwrap keeps flushing and hijacking (websocket upgrades) working through
// http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
	t      *tracker
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
		w.t.answered(code)
		h := w.ResponseWriter.Header()
		for _, k := range []string{"Content-Type", "Date"} {
			if _, ok := h[k]; !ok {
				h[k] = nil // present-but-empty suppresses the automatic header
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
