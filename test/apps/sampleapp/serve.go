package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// serve runs h until SIGTERM, then drains for a few seconds; or, when
// abrupt, exits the moment SIGTERM arrives, as many real apps do: open
// connections are reset by the kernel, requests in flight get no answer.
func serve(addr string, h http.Handler, abrupt bool) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	if abrupt {
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		go func() {
			<-term
			os.Exit(143) // 128 + SIGTERM, no shutdown of any kind
		}()
		return srv.ListenAndServe()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}

func healthz(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") }

// backend answers every request with who it is and what it received.
func backend(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ExitOnError)
	listen := fs.String("listen", ":8080", "listen address")
	abrupt := fs.Bool("exit-on-sigterm", false, "exit at once on SIGTERM, without a graceful shutdown")
	failEvery := fs.Int64("fail-every", 0, "answer every Nth request (not /healthz) with 503, so success rates below 100% are exact (0: never)")
	_ = fs.Parse(args)
	if *failEvery < 0 {
		return fmt.Errorf("-fail-every %d: want 0 (never) or a positive N", *failEvery)
	}
	host, _ := os.Hostname()
	var served atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", healthz)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		n := served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if *failEvery > 0 && n%*failEvery == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"pod": host, "method": r.Method, "path": r.URL.Path, "from": r.RemoteAddr,
			"body": string(body), "served": n,
		})
	})
	log.Printf("backend %s listening on %s (exit on SIGTERM: %v, fail every: %d)", host, *listen, *abrupt, *failEvery)
	return serve(*listen, mux, *abrupt)
}

// frontend calls target every interval and keeps counts, which it logs and
// serves on /stats, so a demo shows traffic flowing through the mesh.
func frontend(args []string) error {
	fs := flag.NewFlagSet("frontend", flag.ExitOnError)
	target := fs.String("target", "", "URL to call")
	interval := fs.Duration("interval", time.Second, "time between calls")
	listen := fs.String("listen", ":8080", "listen address for /healthz and /stats")
	_ = fs.Parse(args)
	if *target == "" {
		return fmt.Errorf("-target is required")
	}
	var ok, failed atomic.Int64
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		for range time.Tick(*interval) {
			resp, err := client.Get(*target)
			if err != nil {
				failed.Add(1)
				log.Printf("call %s: %v (ok=%d failed=%d)", *target, err, ok.Load(), failed.Load())
				continue
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				ok.Add(1)
			} else {
				failed.Add(1)
			}
			log.Printf("call %s: %d %s (ok=%d failed=%d)", *target, resp.StatusCode, trim(b), ok.Load(), failed.Load())
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", healthz)
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int64{"ok": ok.Load(), "failed": failed.Load()})
	})
	return serve(*listen, mux, false)
}

func trim(b []byte) string {
	s := string(b)
	if len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return s
}
