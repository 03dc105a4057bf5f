// Command sampleapp is the demo and e2e workload, one static binary with modes:
//
//	sampleapp backend  [-listen :8080] [-exit-on-sigterm]   HTTP echo server (graceful, or dies at once on SIGTERM)
//	sampleapp frontend -target URL [-interval 1s] [-listen :8080]
//	                   calls target in a loop; /stats shows its counts
//	sampleapp get      -url URL [-timeout 30s]              one GET with retries until timeout; exit 0 on 2xx
//	sampleapp load     -target URL [-rps 200] [-duration 30s] [-concurrency 64] [-timeout 2s]
//	                   bounded constant-rate load; prints a JSON summary
//	sampleapp protocols [-http :8080] [-grpc :9090] [-banner :2525]
//	                   HTTP/1.1+h2c (upload, download, SSE, websocket), gRPC and a banner server
//	sampleapp protocheck -host H [-bytes 104857600]
//	                   runs every protocol against a protocols server; prints a JSON report
//	sampleapp grpcload -target H:P [-rps 100] [-duration 30s] [-concurrency 64] [-timeout 2s]
//	                   constant-rate gRPC unary calls; prints the status codes (JSON)
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sampleapp backend|frontend|get|load|protocols|protocheck|grpcload [flags]")
		os.Exit(2)
	}
	var err error
	switch mode, args := os.Args[1], os.Args[2:]; mode {
	case "backend":
		err = backend(args)
	case "frontend":
		err = frontend(args)
	case "get":
		err = getOnce(args)
	case "load":
		err = runLoad(args)
	case "protocols":
		err = protocols(args)
	case "protocheck":
		err = protocheck(args)
	case "grpcload":
		err = grpcLoad(args)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sampleapp:", err)
		os.Exit(1)
	}
}
