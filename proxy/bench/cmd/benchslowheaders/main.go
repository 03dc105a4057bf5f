// Command benchslowheaders measures the proxy under a slow-header
// (slowloris) attack on loopback: the attacked proxy's memory, how soon it
// closes the attack connections, and the latency of healthy requests
// meanwhile; `make bench-slowheaders` runs it. It re-executes itself with
// "serve-proxy" to run each proxy in a process of its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve-proxy" {
		if err := bench.ServeProxy(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "serve-proxy:", err)
			os.Exit(1)
		}
		return
	}
	conns := flag.Int("conns", 500, "slow-header connections kept open (1-5000)")
	duration := flag.Duration("duration", 30*time.Second, "healthy load per phase, alone and under attack (max 2m)")
	interval := flag.Duration("interval", time.Second, "time between two header lines of an attack connection")
	line := flag.Int("line-bytes", 1500, "size of one trickled header line (1500: 15 KiB after 10 s, under the default 16 KiB limit, so the header timeout closes them)")
	podMiB := flag.Int("pod-memory-mib", 128, "the proxies get GOMEMLIMIT = 90% of this, as sidecar.TuneMemory sets it in a pod with that limit; 0 for none")
	rate := flag.Int("rate", 200, "healthy requests per second (max 5000)")
	out := flag.String("out", "bin/bench-slowheaders.md", "file to write the figures to")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *conns < 1 || *conns > 5000 || *rate < 1 || *rate > 5000 || *line < 16 || *line > 64<<10 ||
		*interval < 10*time.Millisecond || *duration <= 0 || *duration > 2*time.Minute {
		log.Error("invalid flags: want -conns 1-5000, -rate 1-5000, -line-bytes 16-65536, -interval ≥10ms, -duration ≤2m")
		os.Exit(2)
	}
	if *podMiB > 0 {
		// Read by the proxy children's runtime at start (this process has started already).
		_ = os.Setenv("GOMEMLIMIT", fmt.Sprintf("%dMiB", *podMiB*9/10))
	}
	o := bench.SlowOptions{Conns: *conns, Duration: *duration, Interval: *interval, LineBytes: *line, Rate: *rate, Log: log}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := bench.RunSlowHeaders(ctx, o)
	if err != nil {
		log.Error("benchmark failed", "err", err)
		os.Exit(1)
	}
	note := fmt.Sprintf("Machine: %d CPUs, %s. Proxies with default limits, one core each, GOMEMLIMIT %q (as in a pod limited to %d MiB).",
		runtime.NumCPU(), time.Now().UTC().Format(time.RFC3339), os.Getenv("GOMEMLIMIT"), *podMiB)
	report := bench.SlowMarkdown(rep, o, note)
	if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
		log.Error("write report", "err", err)
		os.Exit(1)
	}
	fmt.Print(report)
}
