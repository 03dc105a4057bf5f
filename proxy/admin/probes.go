package admin

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// probeTimeout bounds one app probe when the kubelet's own timeout is longer.
const probeTimeout = 10 * time.Second

// appProbes performs the app's original probe for a rewritten kubelet probe
// and answers with its status, the way the kubelet would judge it. The
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
			http.Error(w, "app probe failed: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, 10<<10))
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
