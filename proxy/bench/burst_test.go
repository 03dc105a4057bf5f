package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary run a proxy child, as cmd/benchproxy does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "serve-proxy" {
		if err := ServeProxy(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "serve-proxy:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// burstSize is how many requests leave at the same instant, each on a
// keep-alive connection of its own: what a stalled load generator (or any
// client whose requests queued up) sends when it catches up. It is beyond
// the proxy's HTTP/1 connections per peer (upstream.maxH1PerPeer).
const burstSize = 64

// BenchmarkBurstDrain sends each b.N iteration one burst of burstSize
// concurrent 1 KiB POSTs to every setup (direct, the meshkeeper pair, the
// HAProxy pair when haproxy is installed), the setups rotated from one
// iteration to the next, and reports per setup the median and p99 latency
// of the burst's requests, the median time the whole burst took and the CPU
// time both proxies spent per burst:
//
//	cd proxy/bench && go test -run '^$' -bench BurstDrain -benchtime 60x
func BenchmarkBurstDrain(b *testing.B) {
	ctx := context.Background()
	dir, appAddr, anchor, cleanup, err := prepare("bench-burst-")
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	setups := []*setup{{name: "direct", target: appAddr, stop: func() {}}}
	mk, err := startMeshkeeper(ctx, dir, appAddr)
	if err != nil {
		b.Fatal(err)
	}
	defer mk.stop()
	setups = append(setups, mk)
	if bin, err := exec.LookPath("haproxy"); err == nil {
		if err := writeHAProxyFiles(dir, anchor); err != nil {
			b.Fatal(err)
		}
		hp, err := startHAProxy(ctx, bin, 1, dir, appAddr)
		if err != nil {
			b.Fatal(err)
		}
		defer hp.stop()
		setups = append(setups, hp)
	}
	body := bytes.Repeat([]byte("m"), 1024)
	clients := map[string]*http.Client{}
	for _, s := range setups {
		clients[s.name] = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: burstSize, DisableCompression: true}}
	}
	for _, s := range setups { // connections and pools warm on every hop
		for range 5 {
			if _, _, err := burst(clients[s.name], "http://"+s.target+"/echo", body); err != nil {
				b.Fatal(err)
			}
		}
	}
	lat, took := map[string][]time.Duration{}, map[string][]time.Duration{}
	cpu := map[string]time.Duration{} // both proxies' CPU time over all bursts
	b.ResetTimer()
	for i := range b.N {
		for _, s := range rotated(setups, i) {
			before, err := samplePids(s.pids)
			if err != nil {
				b.Fatal(err)
			}
			l, d, err := burst(clients[s.name], "http://"+s.target+"/echo", body)
			if err != nil {
				b.Fatal(err)
			}
			lat[s.name], took[s.name] = append(lat[s.name], l...), append(took[s.name], d)
			time.Sleep(30 * time.Millisecond) // the proxies idle between bursts
			// Sampled after the idle time, so work a burst leaves behind
			// (a GC cycle, closing connections) counts too.
			after, err := samplePids(s.pids)
			if err != nil {
				b.Fatal(err)
			}
			cpu[s.name] += cpuSpent(before, after)
		}
	}
	b.StopTimer()
	for _, s := range setups {
		b.ReportMetric(quantile(lat[s.name], 0.5).Seconds()*1e3, s.name+"-p50-ms")
		b.ReportMetric(quantile(lat[s.name], 0.99).Seconds()*1e3, s.name+"-p99-ms")
		b.ReportMetric(quantile(took[s.name], 0.5).Seconds()*1e3, s.name+"-burst-ms")
		if len(s.pids) > 0 {
			// /proc counts CPU in 10 ms ticks: only the mean over many bursts means anything.
			b.ReportMetric(cpu[s.name].Seconds()*1e3/float64(b.N), s.name+"-cpu-ms/burst")
		}
	}
}

// burst sends burstSize requests at once and returns their latencies and
// how long the whole burst took.
func burst(c *http.Client, url string, body []byte) ([]time.Duration, time.Duration, error) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	lat := make([]time.Duration, burstSize)
	errs := make([]error, burstSize)
	for i := range burstSize {
		wg.Go(func() {
			<-start
			t := time.Now()
			resp, err := c.Post(url, "application/octet-stream", bytes.NewReader(body))
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			lat[i], errs[i] = time.Since(t), err
		})
	}
	time.Sleep(5 * time.Millisecond) // every goroutine waiting at the start
	t := time.Now()
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, 0, err
		}
	}
	return lat, time.Since(t), nil
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}
