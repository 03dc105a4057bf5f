package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// SlowOptions bound a slow-header (slowloris) run.
type SlowOptions struct {
	// Conns attack connections are kept open against the server proxy's
	// inbound listener for Duration; each one the proxy closes is reopened.
	Conns    int
	Duration time.Duration
	// Every Interval each connection sends one more header line of
	// LineBytes, so it nears the header size limit as the timeout nears.
	Interval  time.Duration
	LineBytes int
	// Rate is the healthy load (RPS) through the proxy pair, measured
	// before and during the attack.
	Rate int
	Log  *slog.Logger
}

// SlowReport is what a slow-header run measured.
type SlowReport struct {
	Baseline, Attacked    Latency
	IdleRSSKiB            []int64 // client, server proxy before the attack
	PeakRSSKiB            []int64 // their highest resident memory during it
	Opened, Closed        int64   // attack connections opened, and closed by the proxy
	CloseP50, CloseMax    time.Duration
	CloseSamples          int
	StillOpenAtEnd        int
	HeaderBytesAtCloseP50 int64
}

// Latency is the healthy traffic's outcome over one phase.
type Latency struct {
	Requests uint64
	Success  float64
	P50, P99 time.Duration
	Errors   []string
}

// RunSlowHeaders starts the proxy pair, measures healthy load alone, then
// again while o.Conns connections trickle headers into the server proxy.
// Everything runs on 127.0.0.1, bounded by o.Duration.
func RunSlowHeaders(ctx context.Context, o SlowOptions) (SlowReport, error) {
	var rep SlowReport
	dir, appAddr, _, cleanup, err := prepare("bench-slowheaders-")
	if err != nil {
		return rep, err
	}
	defer cleanup()
	mk, err := startMeshkeeper(ctx, dir, appAddr)
	if err != nil {
		return rep, err
	}
	defer mk.stop()

	idle, err := samplePids(mk.pids)
	if err != nil {
		return rep, err
	}
	for _, s := range idle {
		rep.IdleRSSKiB = append(rep.IdleRSSKiB, s.rssKiB)
	}
	o.Log.Info("healthy load alone", "rate", o.Rate, "duration", o.Duration)
	rep.Baseline = healthy(mk.target, o.Rate, o.Duration)

	attackCtx, stopAttack := context.WithCancel(ctx)
	a := &attack{SlowOptions: o, addr: mk.inbound}
	var wg sync.WaitGroup
	for range o.Conns {
		wg.Add(1)
		go func() { defer wg.Done(); a.keepOne(attackCtx) }()
	}
	peak := make(chan []int64, 1)
	go func() { peak <- samplePeak(attackCtx, mk.pids) }()
	time.Sleep(min(o.Duration/4, 3*time.Second)) // let every attack connection open
	o.Log.Info("healthy load under attack", "conns", o.Conns, "rate", o.Rate, "duration", o.Duration)
	rep.Attacked = healthy(mk.target, o.Rate, o.Duration)
	rep.StillOpenAtEnd = int(a.open.Load())
	stopAttack()
	wg.Wait()
	rep.PeakRSSKiB = <-peak
	rep.Opened, rep.Closed = a.opened.Load(), a.closed.Load()
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := len(a.closeAfter); n > 0 {
		slices.Sort(a.closeAfter)
		slices.Sort(a.bytesAtClose)
		rep.CloseSamples, rep.CloseP50, rep.CloseMax = n, a.closeAfter[n/2], a.closeAfter[n-1]
		rep.HeaderBytesAtCloseP50 = a.bytesAtClose[n/2]
	}
	return rep, nil
}

// healthy sends GETs through the proxy pair at rate for d.
func healthy(target string, rate int, d time.Duration) Latency {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true}}
	defer client.CloseIdleConnections()
	atk := vegeta.NewAttacker(vegeta.Client(client), vegeta.MaxWorkers(1024))
	tg := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodPost, URL: "http://" + target + "/echo", Body: []byte("ping")})
	var m vegeta.Metrics
	for res := range atk.Attack(tg, vegeta.ConstantPacer{Freq: rate, Per: time.Second}, d, "healthy") {
		m.Add(res)
	}
	m.Close()
	return Latency{Requests: m.Requests, Success: m.Success, P50: m.Latencies.P50, P99: m.Latencies.P99, Errors: m.Errors}
}

// samplePeak records each process's highest RSS until ctx ends.
func samplePeak(ctx context.Context, pids []int) []int64 {
	peak := make([]int64, len(pids))
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if s, err := samplePids(pids); err == nil {
			for i := range s {
				peak[i] = max(peak[i], s[i].rssKiB)
			}
		}
		select {
		case <-ctx.Done():
			return peak
		case <-tick.C:
		}
	}
}

type attack struct {
	SlowOptions
	addr                 string
	opened, closed, open atomic.Int64
	mu                   sync.Mutex
	closeAfter           []time.Duration
	bytesAtClose         []int64
}

// keepOne keeps one slow-header connection open until ctx ends, opening a
// new one each time the proxy closes the last.
func (a *attack) keepOne(ctx context.Context) {
	line := "X-Slow: " + strings.Repeat("s", max(a.LineBytes-10, 1)) + "\r\n"
	for ctx.Err() == nil {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", a.addr)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		a.opened.Add(1)
		a.open.Add(1)
		a.trickle(ctx, c, line)
		a.open.Add(-1)
		_ = c.Close()
	}
}

// trickle sends a request line, then a header line every Interval, never
// ending the headers, and records when and after how many bytes the proxy
// closed the connection.
func (a *attack) trickle(ctx context.Context, c net.Conn, line string) {
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, c) // returns when the proxy closes (or ctx closes c)
		close(closed)
	}()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	sent, err := io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: victim\r\n")
	tick := time.NewTicker(a.Interval)
	defer tick.Stop()
	for err == nil {
		select {
		case <-closed:
			if ctx.Err() == nil {
				a.record(time.Since(start), int64(sent))
			}
			return
		case <-tick.C:
			var n int
			n, err = io.WriteString(c, line)
			sent += n
		}
	}
	<-closed
	if ctx.Err() == nil {
		a.record(time.Since(start), int64(sent))
	}
}

func (a *attack) record(after time.Duration, bytes int64) {
	a.closed.Add(1)
	a.mu.Lock()
	a.closeAfter = append(a.closeAfter, after)
	a.bytesAtClose = append(a.bytesAtClose, bytes)
	a.mu.Unlock()
}

// SlowMarkdown renders a slow-header run.
func SlowMarkdown(r SlowReport, o SlowOptions, note string) string {
	var b strings.Builder
	mib := func(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
	fmt.Fprintf(&b, "# Slow-header attack on the proxy pair\n\n%s\n\n", note)
	fmt.Fprintf(&b, "%d connections trickle a %d-byte header line every %s into the server proxy's inbound listener for %s "+
		"(each one the proxy closes is reopened), while healthy POSTs go client → proxy → mTLS → proxy → app at %d RPS.\n\n",
		o.Conns, o.LineBytes, o.Interval, o.Duration, o.Rate)
	fmt.Fprintf(&b, "| healthy requests | requests | success | p50 | p99 |\n| --- | --- | --- | --- | --- |\n")
	for _, l := range []struct {
		name string
		l    Latency
	}{{"alone", r.Baseline}, {"during the attack", r.Attacked}} {
		fmt.Fprintf(&b, "| %s | %d | %.2f%% | %s | %s |\n", l.name, l.l.Requests, 100*l.l.Success, l.l.P50.Round(time.Microsecond), l.l.P99.Round(time.Microsecond))
	}
	fmt.Fprintf(&b, "\n| proxy RSS | client | server (attacked) |\n| --- | --- | --- |\n")
	if len(r.IdleRSSKiB) == 2 && len(r.PeakRSSKiB) == 2 {
		fmt.Fprintf(&b, "| before the attack | %s | %s |\n| peak during it | %s | %s |\n",
			mib(r.IdleRSSKiB[0]), mib(r.IdleRSSKiB[1]), mib(r.PeakRSSKiB[0]), mib(r.PeakRSSKiB[1]))
	}
	fmt.Fprintf(&b, "\nAttack connections: %d opened, %d closed by the proxy (median after %s and %d header bytes, at most after %s); %d open when the load ended.\n",
		r.Opened, r.Closed, r.CloseP50.Round(time.Millisecond), r.HeaderBytesAtCloseP50, r.CloseMax.Round(time.Millisecond), r.StillOpenAtEnd)
	for _, l := range []Latency{r.Baseline, r.Attacked} {
		for _, e := range l.Errors {
			fmt.Fprintf(&b, "\nhealthy request error: %s", e)
		}
	}
	return b.String()
}
