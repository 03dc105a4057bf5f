package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// probeTimeout bounds one app probe when the kubelet's own timeout is longer.
const probeTimeout = 10 * time.Second

// appProbes performs the app's original probe for a rewritten kubelet probe
// and answers with its status code and a short text, never the app's body or
// headers: the admin port answers anyone, and the app's health page may say
// more than its status. The kubelet judges a probe by the code alone. The
// proxy's own connections bypass redirection, so the probe reaches the app
// directly, in plaintext, inside the pod.
func appProbes(probes map[string]contract.AppProbe, podIP string) http.Handler {
	client := &http.Client{
		Timeout: probeTimeout,
		// The kubelet does not verify probe certificates either.
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}, //nolint:gosec
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := probes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		resp, err := client.Do(probeRequest(r.Context(), p, podIP))
		if err != nil {
			http.Error(w, "app probe failed: "+probeError(err), http.StatusServiceUnavailable)
			return
		}
		// Reading (a bounded part of) the body lets the app finish its answer.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
		resp.Body.Close()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(resp.StatusCode)
		_, _ = fmt.Fprintf(w, "app probe: %d %s\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	})
}

func probeRequest(ctx context.Context, p contract.AppProbe, podIP string) *http.Request {
	scheme := "http"
	if strings.EqualFold(p.Scheme, "HTTPS") {
		scheme = "https"
	}
	host := podIP
	if host == "" {
		host = "127.0.0.1"
	}
	path := p.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(int(p.Port))), path)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("User-Agent", "kube-probe/meshkeeper")
	return req
}

// probeError names what went wrong without the error's text, which carries
// addresses and TLS details of the app.
func probeError(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	default:
		return "no response"
	}
}
