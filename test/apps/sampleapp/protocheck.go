package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// CheckResult is one protocol check of protocheck.
type CheckResult struct {
	Name   string  `json:"name"`
	OK     bool    `json:"ok"`
	Detail string  `json:"detail"`
	Ms     float64 `json:"ms"`
}

// ProtoReport is protocheck's output: the checks, and this pod's own
// proxy's meshkeeper_ series read at the end (the pod's proxy goes away
// with it).
type ProtoReport struct {
	Checks  []CheckResult `json:"checks"`
	Metrics string        `json:"metrics"`
}

// protocheck runs every protocol against a protocols server and prints a
// ProtoReport; it exits non-zero when a check failed.
func protocheck(args []string) error {
	fs := flag.NewFlagSet("protocheck", flag.ExitOnError)
	host := fs.String("host", "", "protocols Service host (HTTP on 80, gRPC on 9090, banner on 2525)")
	size := fs.Int64("bytes", 100<<20, "upload and download size")
	admin := fs.String("admin", "127.0.0.1:4191", "this pod's proxy admin address ('' to skip)")
	httpAddr := fs.String("http", "", "HTTP address (default host)")
	grpcAddr := fs.String("grpc", "", "gRPC address (default host:9090)")
	bannerAddr := fs.String("banner", "", "banner address (default host:2525)")
	_ = fs.Parse(args)
	if *host == "" {
		return errors.New("-host is required")
	}
	h, g, b := or(*httpAddr, *host), or(*grpcAddr, *host+":9090"), or(*bannerAddr, *host+":2525")
	checks := []struct {
		name string
		run  func() (string, error)
	}{
		{"http1-chunked-upload", func() (string, error) { return checkUpload("http://"+h+"/upload", *size) }},
		{"http1-download", func() (string, error) { return checkDownload("http://"+h+"/download", *size) }},
		{"h2c-prior-knowledge", func() (string, error) { return checkH2C("http://" + h + "/proto") }},
		{"grpc-unary-and-stream", func() (string, error) { return checkGRPC(g) }},
		{"websocket", func() (string, error) { return checkWebsocket("ws://" + h + "/ws") }},
		{"sse-incremental", func() (string, error) { return checkSSE("http://" + h + "/sse?events=3&gap=500ms") }},
		{"banner-opaque-port", func() (string, error) { return checkBanner(b) }},
	}
	var rep ProtoReport
	failed := 0
	for _, c := range checks {
		start := time.Now()
		detail, err := c.run()
		r := CheckResult{Name: c.name, OK: err == nil, Detail: detail, Ms: float64(time.Since(start).Microseconds()) / 1000}
		if err != nil {
			r.Detail, failed = err.Error(), failed+1
		}
		rep.Checks = append(rep.Checks, r)
	}
	if *admin != "" {
		rep.Metrics = ownMetrics("http://" + *admin + "/metrics")
	}
	_ = json.NewEncoder(os.Stdout).Encode(rep)
	if failed > 0 {
		return fmt.Errorf("%d checks failed", failed)
	}
	return nil
}

func h1Client() *http.Client {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{Protocols: p}}
}

func checkUpload(url string, n int64) (string, error) {
	want := sha256.New()
	body := io.TeeReader(io.LimitReader(seeded(1), n), want)
	req, _ := http.NewRequest(http.MethodPost, url, io.NopCloser(body))
	req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
	resp, err := h1Client().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var got struct {
		Bytes   int64  `json:"bytes"`
		SHA256  string `json:"sha256"`
		Chunked bool   `json:"chunked"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		return "", fmt.Errorf("status %d: %w", resp.StatusCode, err)
	}
	if !got.Chunked {
		return "", errors.New("the server did not receive a chunked upload")
	}
	if got.Bytes != n || got.SHA256 != hex.EncodeToString(want.Sum(nil)) {
		return "", fmt.Errorf("server got %d bytes sha256 %s", got.Bytes, got.SHA256)
	}
	return fmt.Sprintf("%d bytes chunked, sha256 matches", n), nil
}

func checkDownload(url string, n int64) (string, error) {
	resp, err := h1Client().Get(fmt.Sprintf("%s?bytes=%d&seed=2", url, n))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	got, want := sha256.New(), sha256.New()
	m, err := io.Copy(got, resp.Body)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(want, io.LimitReader(seeded(2), n))
	if m != n || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		return "", fmt.Errorf("got %d bytes, checksum mismatch: %v", m, !bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
	return fmt.Sprintf("%d bytes, sha256 matches", n), nil
}

func checkH2C(url string) (string, error) {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	resp, err := (&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Protocols: p}}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 || string(b) != "HTTP/2.0" {
		return "", fmt.Errorf("client %s, server saw %q", resp.Proto, b)
	}
	return "both ends spoke HTTP/2.0", nil
}

// checkGRPC makes the calls whose classification the e2e test then checks:
// 10 OK and 10 NOT_FOUND and 5 UNAVAILABLE unary calls, a server stream that
// ends OK and one that fails with INTERNAL after two messages.
func checkGRPC(addr string) (string, error) {
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer cc.Close()
	tc := testgrpc.NewTestServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range []struct {
		code codes.Code
		n    int
	}{{codes.OK, 10}, {codes.NotFound, 10}, {codes.Unavailable, 5}} {
		for range c.n {
			_, err := tc.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(c.code)}})
			if status.Code(err) != c.code {
				return "", fmt.Errorf("unary %s: %v", c.code, err)
			}
		}
	}
	for _, c := range []struct {
		code codes.Code
		msgs int
	}{{codes.OK, 3}, {codes.Internal, 2}} {
		params := make([]*testgrpc.ResponseParameters, c.msgs)
		for i := range params {
			params[i] = &testgrpc.ResponseParameters{Size: 100, IntervalUs: 50000}
		}
		stream, err := tc.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: params,
			ResponseStatus: &testgrpc.EchoStatus{Code: int32(c.code)}})
		if err != nil {
			return "", err
		}
		got := 0
		for {
			if _, err = stream.Recv(); err != nil {
				break
			}
			got++
		}
		if got != c.msgs || (c.code == codes.OK && !errors.Is(err, io.EOF)) || (c.code != codes.OK && status.Code(err) != c.code) {
			return "", fmt.Errorf("stream %s: %d messages, ended %v", c.code, got, err)
		}
	}
	return "25 unary (10 OK, 10 NOT_FOUND, 5 UNAVAILABLE), 2 server streams (OK, INTERNAL after data)", nil
}

func checkWebsocket(url string) (string, error) {
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return "", err
	}
	defer c.Close()
	for i := range 5 {
		msg := bytes.Repeat([]byte{byte('a' + i)}, 1000)
		if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
			return "", err
		}
		if _, echo, err := c.ReadMessage(); err != nil || !bytes.Equal(echo, msg) {
			return "", fmt.Errorf("echo %d: %v", i, err)
		}
	}
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	return fmt.Sprintf("status %d, 5 messages echoed", resp.StatusCode), nil
}

// checkSSE requires the events to arrive as they are sent (500 ms apart),
// not buffered until the response ends.
func checkSSE(url string) (string, error) {
	resp, err := h1Client().Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var at []time.Time
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			at = append(at, time.Now())
		}
	}
	if len(at) != 3 {
		return "", fmt.Errorf("%d events", len(at))
	}
	if spread := at[2].Sub(at[0]); spread < 800*time.Millisecond {
		return "", fmt.Errorf("events arrived within %s: buffered", spread)
	}
	return fmt.Sprintf("3 events, first to last %s", at[2].Sub(at[0]).Round(time.Millisecond)), nil
}

func checkBanner(addr string) (string, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	took := time.Since(start)
	if err != nil || line != Banner {
		return "", fmt.Errorf("banner %q: %v", line, err)
	}
	_, _ = io.WriteString(c, "EHLO e2e\r\n")
	if echo, err := br.ReadString('\n'); err != nil || echo != "EHLO e2e\r\n" {
		return "", fmt.Errorf("echo %q: %v", echo, err)
	}
	return fmt.Sprintf("banner after %s", took.Round(100*time.Microsecond)), nil
}

// ownMetrics returns the meshkeeper_ series (with HELP and TYPE) of this
// pod's proxy.
func ownMetrics(url string) string {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	var out strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "meshkeeper_") || strings.HasPrefix(l, "# HELP meshkeeper_") || strings.HasPrefix(l, "# TYPE meshkeeper_") {
			out.WriteString(l + "\n")
		}
	}
	return out.String()
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
