package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/meshkeeper/meshkeeper/test/apps/load"
)

// getOnce retries a GET until it answers 2xx (or -want-status) or the
// timeout passes; DNS and Services may need a moment after a pod starts.
func getOnce(args []string) error {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	url := fs.String("url", "", "URL to GET")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after")
	insecure := fs.Bool("insecure", false, "accept any server certificate (https), presenting none")
	wantStatus := fs.Int("want-status", 0, "succeed on this status instead of 2xx")
	_ = fs.Parse(args)
	deadline := time.Now().Add(*timeout)
	client := &http.Client{Timeout: 5 * time.Second}
	if *insecure {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // a test client probing refusal
	}
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(*url)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if (*wantStatus == 0 && resp.StatusCode/100 == 2) || resp.StatusCode == *wantStatus {
				fmt.Printf("%s", b)
				return nil
			}
			err = fmt.Errorf("status %d: %s", resp.StatusCode, trim(b))
		}
		last = err
		fmt.Fprintln(os.Stderr, "retrying:", err)
		time.Sleep(time.Second)
	}
	return fmt.Errorf("GET %s did not succeed within %s: %w", *url, *timeout, last)
}

func runLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	var c load.Config
	fs.StringVar(&c.Target, "target", "", "URL to GET")
	fs.IntVar(&c.RPS, "rps", 200, "requests started per second")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "how long to generate load (max 1h)")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "max requests in flight")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Second, "per-request timeout")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	s, err := load.Run(ctx, c)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
