// Package load is a bounded, open-loop HTTP load generator: it starts requests
// at a constant rate for a fixed duration (never more than a fixed number in
// flight) and classifies every outcome itself, so rotation and upgrade tests
// can tell TLS failures apart from ordinary errors.
package load

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config bounds one run.
type Config struct {
	Target      string        // URL to GET
	RPS         int           // requests started per second
	Duration    time.Duration // how long to keep starting requests
	Concurrency int           // at most this many in flight; a start beyond it is dropped
	Timeout     time.Duration // per request
}

// Summary is the outcome of a run, printed as JSON.
type Summary struct {
	Target          string         `json:"target"`
	RPS             int            `json:"rps"`
	DurationSeconds float64        `json:"durationSeconds"`
	Sent            int            `json:"sent"`
	Successes       int            `json:"successes"`
	Failures        int            `json:"failures"`
	TLSErrors       int            `json:"tlsErrors"`
	Timeouts        int            `json:"timeouts"`
	Dropped         int            `json:"dropped"`
	AchievedRPS     float64        `json:"achievedRps"`
	StatusCodes     map[string]int `json:"statusCodes"`
	LatencyMs       Latency        `json:"latencyMs"`
	ErrorSamples    map[string]int `json:"errorSamples,omitempty"`
}

// Latency percentiles of completed requests (any status).
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// maxErrorSamples caps distinct error messages kept in the summary.
const maxErrorSamples = 10

func (c Config) validate() error {
	switch {
	case c.Target == "":
		return errors.New("target is required")
	case c.RPS <= 0 || c.RPS > 10000:
		return fmt.Errorf("rps %d out of range (1..10000)", c.RPS)
	case c.Duration <= 0 || c.Duration > time.Hour:
		return fmt.Errorf("duration %s out of range (0..1h]", c.Duration)
	case c.Concurrency <= 0:
		return errors.New("concurrency must be positive")
	case c.Timeout <= 0:
		return errors.New("timeout must be positive")
	}
	return nil
}

// Run generates the load and returns its summary; ctx cuts it short.
func Run(ctx context.Context, c Config) (Summary, error) {
	if err := c.validate(); err != nil {
		return Summary{}, err
	}
	client := &http.Client{
		Timeout: c.Timeout,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: c.Concurrency,
			DialContext:         (&net.Dialer{Timeout: c.Timeout}).DialContext,
		},
	}
	defer client.CloseIdleConnections()

	var (
		mu        sync.Mutex
		wg        sync.WaitGroup
		latencies []time.Duration
		s         = Summary{Target: c.Target, RPS: c.RPS, StatusCodes: map[string]int{}, ErrorSamples: map[string]int{}}
	)
	slots := make(chan struct{}, c.Concurrency)
	interval := time.Second / time.Duration(c.RPS)
	start := time.Now()
	end := start.Add(c.Duration)
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if !at.Before(end) {
			break
		}
		select {
		case <-ctx.Done():
			end = time.Now()
		case <-time.After(time.Until(at)):
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case slots <- struct{}{}:
		default:
			mu.Lock()
			s.Dropped++
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			t0 := time.Now()
			code, err := get(ctx, client, c.Target)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			s.Sent++
			record(&s, code, err)
			if err == nil {
				latencies = append(latencies, d)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	s.DurationSeconds = elapsed.Seconds()
	s.AchievedRPS = float64(s.Sent) / elapsed.Seconds()
	s.LatencyMs = percentiles(latencies)
	return s, nil
}

func get(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

func record(s *Summary, code int, err error) {
	if err != nil {
		s.Failures++
		switch {
		case IsTLSError(err):
			s.TLSErrors++
		case isTimeout(err):
			s.Timeouts++
		}
		if len(s.ErrorSamples) < maxErrorSamples || s.ErrorSamples[err.Error()] > 0 {
			s.ErrorSamples[err.Error()]++
		}
		return
	}
	s.StatusCodes[strconv.Itoa(code)]++
	if code >= 200 && code < 400 {
		s.Successes++
	} else {
		s.Failures++
	}
}

// IsTLSError reports handshake and certificate failures, by type where the
// standard library exposes one and by the "tls:" prefix of its messages.
func IsTLSError(err error) bool {
	var (
		rh   tls.RecordHeaderError
		al   tls.AlertError
		ver  *tls.CertificateVerificationError
		ua   x509.UnknownAuthorityError
		inv  x509.CertificateInvalidError
		host x509.HostnameError
	)
	return errors.As(err, &rh) || errors.As(err, &al) || errors.As(err, &ver) || errors.As(err, &ua) ||
		errors.As(err, &inv) || errors.As(err, &host) || strings.Contains(err.Error(), "tls: ")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) float64 {
		return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000
	}
	return Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: at(1)}
}
