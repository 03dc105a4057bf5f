package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// protocols serves every protocol the e2e matrix runs through the mesh:
// HTTP/1.1 and h2c on -http (uploads, downloads, server-sent events,
// websocket), gRPC on -grpc, and a server-speaks-first banner on -banner.
func protocols(args []string) error {
	fs := flag.NewFlagSet("protocols", flag.ExitOnError)
	httpAddr := fs.String("http", ":8080", "HTTP/1.1 and h2c address")
	grpcAddr := fs.String("grpc", ":9090", "gRPC address")
	bannerAddr := fs.String("banner", ":2525", "server-speaks-first address")
	_ = fs.Parse(args)

	gl, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		return err
	}
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, grpcService{})
	go func() { _ = gs.Serve(gl) }()
	defer gs.Stop()

	bl, err := net.Listen("tcp", *bannerAddr)
	if err != nil {
		return err
	}
	defer bl.Close()
	go serveBanner(bl)

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", healthz)
	mux.HandleFunc("/upload", upload)
	mux.HandleFunc("/download", download)
	mux.HandleFunc("/sse", sse)
	mux.HandleFunc("/ws", echoWebsocket)
	mux.HandleFunc("/proto", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) })
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Addr: *httpAddr, Handler: mux, Protocols: protocols, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("protocols: http %s, grpc %s, banner %s", *httpAddr, *grpcAddr, *bannerAddr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		// A well-behaved gRPC server drains on SIGTERM: calls in flight finish,
		// new ones are refused (GOAWAY), within a bound. The abrupt behaviour is
		// the abrupt app's (AbruptAppRestartUnderLoad), not this one's.
		drained := make(chan struct{})
		go func() { gs.GracefulStop(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(10 * time.Second):
			gs.Stop()
		}
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// Banner is what the banner server says first.
const Banner = "220 sampleapp ESMTP ready\r\n"

func serveBanner(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.WriteString(c, Banner)
			_, _ = io.Copy(c, c)
		}()
	}
}

// upload answers with the size and SHA-256 of the request body, and whether
// it came chunked.
func upload(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	chunked := len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked"
	_ = json.NewEncoder(w).Encode(map[string]any{"bytes": n, "sha256": hex.EncodeToString(h.Sum(nil)), "chunked": chunked})
}

// seeded returns the deterministic byte stream both sides regenerate.
func seeded(seed uint64) io.Reader {
	var key [32]byte
	for i := range key {
		key[i] = byte(seed >> (8 * (i % 8)))
	}
	return rand.NewChaCha8(key)
}

// download streams ?bytes= of the ?seed= stream, chunked (length not announced).
func download(w http.ResponseWriter, r *http.Request) {
	n, err1 := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
	seed, err2 := strconv.ParseUint(r.URL.Query().Get("seed"), 10, 64)
	if err1 != nil || err2 != nil || n < 0 || n > 1<<30 {
		http.Error(w, "want ?bytes=<=1GiB&seed=", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = io.Copy(w, io.LimitReader(seeded(seed), n))
}

// sse sends ?events= events ?gap= apart, flushing each.
func sse(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("events"))
	gap, _ := time.ParseDuration(r.URL.Query().Get("gap"))
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	for i := range n {
		if i > 0 {
			time.Sleep(gap)
		}
		_, _ = fmt.Fprintf(w, "id: %d\ndata: event %d sent %s\n\n", i, i, time.Now().UTC().Format(time.RFC3339Nano))
		w.(http.Flusher).Flush()
	}
}

func echoWebsocket(w http.ResponseWriter, r *http.Request) {
	c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(typ, msg); err != nil {
			return
		}
	}
}

// grpcService answers with the status a request asks for, after the
// messages it asks for.
type grpcService struct {
	testgrpc.UnimplementedTestServiceServer
}

func (grpcService) UnaryCall(_ context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if s := req.GetResponseStatus(); s.GetCode() != 0 {
		return nil, status.Error(codes.Code(s.GetCode()), s.GetMessage())
	}
	return &testgrpc.SimpleResponse{Payload: req.GetPayload()}, nil
}

func (grpcService) StreamingOutputCall(req *testgrpc.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	for _, p := range req.GetResponseParameters() {
		time.Sleep(time.Duration(p.GetIntervalUs()) * time.Microsecond)
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: make([]byte, p.GetSize())}}); err != nil {
			return err
		}
	}
	if s := req.GetResponseStatus(); s.GetCode() != 0 {
		return status.Error(codes.Code(s.GetCode()), s.GetMessage())
	}
	return nil
}
