package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// GRPCLoadSummary is grpcload's output: calls sent and their status codes.
type GRPCLoadSummary struct {
	Sent    int            `json:"sent"`
	Dropped int            `json:"dropped"` // not sent: every slot busy
	Codes   map[string]int `json:"codes"`
	// Errors counts the messages of failed calls, at most maxErrorSamples distinct ones.
	Errors map[string]int `json:"errors,omitempty"`
}

// maxErrorSamples bounds GRPCLoadSummary.Errors.
const maxErrorSamples = 10

// grpcLoad makes unary calls at a constant rate on one connection, at most
// -concurrency in flight, each with -timeout; prints a GRPCLoadSummary.
func grpcLoad(args []string) error {
	fs := flag.NewFlagSet("grpcload", flag.ExitOnError)
	target := fs.String("target", "", "host:port of a TestService")
	rps := fs.Int("rps", 100, "calls per second")
	duration := fs.Duration("duration", 30*time.Second, "how long")
	concurrency := fs.Int("concurrency", 64, "calls in flight at most")
	timeout := fs.Duration("timeout", 2*time.Second, "per-call deadline")
	_ = fs.Parse(args)
	cc, err := grpc.NewClient("passthrough:///"+*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	tc := testgrpc.NewTestServiceClient(cc)
	sum := GRPCLoadSummary{Codes: map[string]int{}, Errors: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, *concurrency)
	tick := time.NewTicker(time.Second / time.Duration(max(1, *rps)))
	defer tick.Stop()
	end := time.After(*duration)
	for done := false; !done; {
		select {
		case <-end:
			done = true
		case <-tick.C:
			select {
			case slots <- struct{}{}:
			default:
				sum.Dropped++
				continue
			}
			sum.Sent++
			wg.Go(func() {
				defer func() { <-slots }()
				ctx, cancel := context.WithTimeout(context.Background(), *timeout)
				defer cancel()
				_, err := tc.UnaryCall(ctx, &testgrpc.SimpleRequest{})
				mu.Lock()
				sum.Codes[status.Code(err).String()]++
				if msg := status.Convert(err).Message(); err != nil && (sum.Errors[msg] > 0 || len(sum.Errors) < maxErrorSamples) {
					sum.Errors[msg]++
				}
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(sum)
}
