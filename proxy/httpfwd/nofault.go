//go:build !meshkeeper_faults

package httpfwd

import "net/http"

const faultMessage = ""

// faulted is constant false in production builds: the compiler drops the
// fault branches of both HTTP paths, and no fault code or text ships.
func (s *Server) faulted() bool { return false }

func writeFault(http.ResponseWriter, *http.Request, *tracker) {}
