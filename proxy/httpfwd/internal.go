package httpfwd

import (
	"net/http"

	"github.com/meshkeeper/meshkeeper/proxy/upstream"
)

// internalHeaders are the headers proxies use among themselves. An app could
// forge them: a 502 saying "app unavailable" makes the client's proxy send a
// request again (even a POST), and Orig-Proto makes the server's proxy
// downgrade an HTTP/2 request. So the outbound proxy strips them from client
// requests, and the inbound proxy from its app's responses, on both HTTP
// paths.
var internalHeaders = [...]string{ProxyErrorHeader, upstream.OrigProtoHeader}

// stripInternal removes internalHeaders; header keys are canonical here
// (net/http and http.ReadRequest/ReadResponse canonicalise them).
func stripInternal(h http.Header) {
	for _, k := range internalHeaders {
		delete(h, k)
	}
}
