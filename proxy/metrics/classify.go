package metrics

import (
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
)

// Outcome is what the proxy saw of one request and its response.
type Outcome struct {
	// Status is the HTTP status sent to the client; 0 when none was.
	Status int
	// GRPC is true when the request was a gRPC call (IsGRPC).
	GRPC bool
	// GRPCStatus is the grpc-status value as received, from the trailers or,
	// for a trailers-only response, the headers; "" when none came.
	GRPCStatus string
	// Error is one of the contract.Error* values, "" when the response ended
	// normally.
	Error string
}

// Verdict is an Outcome's labels.
type Verdict struct {
	Class, GRPCStatus, Error string
}

// IsGRPC reports whether a request's Content-Type is gRPC's:
// application/grpc or application/grpc+<codec>. gRPC-Web is not: its status
// travels inside the body, so it is judged as HTTP by its status code.
func IsGRPC(contentType string) bool {
	if !mayBeGRPC(contentType) {
		return false // most requests: no parse, no allocation
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/grpc" || strings.HasPrefix(mt, "application/grpc+")
}

// mayBeGRPC is false only when contentType cannot be gRPC's: it is ASCII
// and holds no "application/grpc" in any letter case. Non-ASCII goes to the
// full parse: Unicode lower-casing maps some runes to ASCII letters (U+0130
// to 'i'), so an ASCII-only test would judge those differently.
func mayBeGRPC(contentType string) bool {
	const want = "application/grpc"
	for i := 0; i < len(contentType); i++ {
		if contentType[i] >= utf8.RuneSelf {
			return true
		}
	}
	for i := 0; i+len(want) <= len(contentType); i++ {
		if strings.EqualFold(contentType[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

// grpcFailure are the codes that count as failures: exactly those whose HTTP
// equivalent in google.rpc.Code's mapping is a 5xx, so a gRPC service is
// judged by the same rule as an HTTP one. Client errors (CANCELLED 499,
// INVALID_ARGUMENT 400, NOT_FOUND 404, ALREADY_EXISTS 409, PERMISSION_DENIED
// 403, UNAUTHENTICATED 401, RESOURCE_EXHAUSTED 429, FAILED_PRECONDITION 400,
// ABORTED 409, OUT_OF_RANGE 400) are successes. Linkerd differs on two
// codes: it fails PERMISSION_DENIED (here a 403: the caller's problem) and
// passes UNIMPLEMENTED (here a 501: a server that lost a method its clients
// call, which an upgrade gate must catch).
var grpcFailure = [17]bool{
	2:  true, // UNKNOWN → 500
	4:  true, // DEADLINE_EXCEEDED → 504
	12: true, // UNIMPLEMENTED → 501
	13: true, // INTERNAL → 500
	14: true, // UNAVAILABLE → 503
	15: true, // DATA_LOSS → 500
}

// GRPCFailure reports whether a gRPC status code (0..16) is a failure.
func GRPCFailure(code int) bool { return code >= 0 && code < len(grpcFailure) && grpcFailure[code] }

// parseGRPCStatus accepts the 17 codes gRPC defines; anything else is invalid,
// so a peer cannot create series at will.
func parseGRPCStatus(s string) (int, bool) {
	// By hand, not strconv.Atoi: Atoi allocates an error for "" (every
	// non-gRPC request) and takes a sign ("+1"), which gRPC's 1*DIGIT does not.
	if len(s) == 0 || len(s) > 2 || (len(s) == 2 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	if n >= len(grpcFailure) {
		return 0, false
	}
	return n, true
}

// Classify is the success rule:
//   - an upstream failure (connect, timeout, reset, other) or a fault the
//     proxy injected fails;
//   - a client that left before any answer fails (nobody was answered; a
//     client giving up is how slowness shows); one that left mid-response is
//     judged by what it had been answered — a 5xx fails, anything else
//     (a stream it chose to end) succeeds;
//   - a gRPC call fails on a failure code (GRPCFailure), on a missing or
//     invalid grpc-status, or on an HTTP 5xx;
//   - any other request fails on a 5xx or when no status was sent. A 101
//     (protocol switch) is a success.
func Classify(o Outcome) Verdict {
	v := Verdict{Class: c.ClassSuccess, Error: o.Error}
	code, valid := parseGRPCStatus(o.GRPCStatus)
	if o.GRPC && valid {
		v.GRPCStatus = strconv.Itoa(code)
	}
	fail := o.Status >= 500 || o.Status == 0
	switch {
	case o.Error == c.ErrorClientCancel:
		fail = fail || (o.GRPC && valid && GRPCFailure(code))
	case o.Error != "":
		fail = true
	case o.GRPC && o.GRPCStatus == "":
		fail, v.Error = true, c.ErrorGRPCStatusMissing
	case o.GRPC && !valid:
		fail, v.Error = true, c.ErrorGRPCStatusInvalid
	case o.GRPC:
		fail = fail || GRPCFailure(code)
	}
	if fail {
		v.Class = c.ClassFailure
	}
	return v
}
