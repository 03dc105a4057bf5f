package discovery

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/testsupport"
)

var quiet = slog.New(slog.DiscardHandler)

// anyone is an Authenticator for tests about streaming, not about callers.
type anyone struct{}

func (anyone) Authenticate(*http.Request) (string, error) {
	return "spiffe://cluster.local/ns/t/sa/t", nil
}

// startStream serves h over HTTPS with HTTP/2, as in production.
func startStream(t *testing.T, h *StreamHandler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h.Handler())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

type streamReader struct {
	resp *http.Response
	r    *bufio.Reader
}

func openStream(t *testing.T, srv *httptest.Server) *streamReader {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+contract.DiscoveryPath, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("status %d proto %s", resp.StatusCode, resp.Proto)
	}
	return &streamReader{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next snapshot, skipping keep-alive lines.
func (s *streamReader) next(t *testing.T) contract.DiscoverySnapshot {
	t.Helper()
	for {
		line, err := s.r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		if len(line) == 1 {
			continue
		}
		var snap contract.DiscoverySnapshot
		if err := json.Unmarshal(line, &snap); err != nil {
			t.Fatalf("decode %q: %v", line, err)
		}
		return snap
	}
}

func TestStreamNotReadyBeforeFirstSnapshot(t *testing.T) {
	h, err := NewStreamHandler(NewBroadcaster(), StreamConfig{Auth: anyone{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := startStream(t, h)
	resp, err := srv.Client().Get(srv.URL + contract.DiscoveryPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
}

func TestStreamKeepAlive(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	b := NewBroadcaster()
	if _, err := b.Publish(contract.DiscoverySnapshot{Pods: map[string]contract.MeshedPod{}}); err != nil {
		t.Fatal(err)
	}
	h, err := NewStreamHandler(b, StreamConfig{Auth: anyone{}, Clock: clk, KeepAlive: time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s := openStream(t, startStream(t, h))
	if snap := s.next(t); snap.Revision != 1 {
		t.Fatalf("first revision %d", snap.Revision)
	}
	testsupport.Until(t, "the keep-alive ticker to start", 5*time.Second, clk.HasWaiters)
	clk.Step(time.Second)
	line, err := s.r.ReadBytes('\n')
	if err != nil || string(line) != "\n" {
		t.Fatalf("keep-alive line %q, %v", line, err)
	}
}

func TestWatcherStreamsSnapshotsToManyWatchers(t *testing.T) {
	ready := ptr.To(true)
	client := fake.NewClientset(
		namespace("shop", map[string]string{contract.MTLSModeKey: contract.MTLSStrict}),
		pod("shop", "web", "10.0.0.1"),
		service("shop", "web", "10.96.0.10", corev1.ServicePort{Name: "http", Port: 80}),
		slice("shop", "web", "web-1", []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
			sliceEndpoint{"10.0.0.1", ready}),
	)
	b := NewBroadcaster()
	w := NewWatcher(client, b, WatcherConfig{TrustDomain: td, DefaultMTLSMode: contract.MTLSPermissive, Debounce: 10 * time.Millisecond, Logger: quiet})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watcher: %v", err)
		}
	})
	testsupport.Until(t, "the watcher to sync", 10*time.Second, w.Synced)
	// Every watcher here comes from 127.0.0.1; the per-address cap is not under test.
	h, err := NewStreamHandler(b, StreamConfig{Auth: anyone{}, Logger: quiet, MaxWatchersPerIP: 100})
	if err != nil {
		t.Fatal(err)
	}
	srv := startStream(t, h)

	const watchers = 50
	streams := make([]*streamReader, watchers)
	for i := range streams {
		streams[i] = openStream(t, srv)
		first := streams[i].next(t)
		want := contract.MeshedPod{Identity: "spiffe://cluster.local/ns/shop/sa/web-sa", Namespace: "shop", MTLSMode: contract.MTLSStrict}
		if first.Pods["10.0.0.1"] != want {
			t.Fatalf("watcher %d first snapshot pods = %v", i, first.Pods)
		}
		if eps := first.Services["10.96.0.10:80"].Endpoints; len(eps) != 1 || eps[0].Identity != want.Identity || eps[0].Port != 8080 {
			t.Fatalf("watcher %d service endpoints = %v", i, eps)
		}
	}

	// A new meshed pod appears; every watcher receives a newer snapshot with it.
	if _, err := client.CoreV1().Pods("shop").Create(ctx, pod("shop", "api", "10.0.0.2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, watchers)
	for _, s := range streams {
		wg.Go(func() {
			for {
				snap := s.next(t)
				if _, ok := snap.Pods["10.0.0.2"]; ok {
					if snap.Revision < 2 {
						errs <- "revision did not increase"
					}
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if n := b.Subscribers(); n != watchers {
		t.Fatalf("subscribers = %d, want %d", n, watchers)
	}
}

func TestBroadcasterSkipsUnchangedSnapshots(t *testing.T) {
	b := NewBroadcaster()
	snap := contract.DiscoverySnapshot{Pods: map[string]contract.MeshedPod{"10.0.0.1": {Identity: "spiffe://td/ns/a/sa/a"}}}
	if changed, _ := b.Publish(snap); !changed {
		t.Fatal("first publish must change")
	}
	if changed, _ := b.Publish(snap); changed {
		t.Fatal("identical publish must not change")
	}
	snap.Pods = map[string]contract.MeshedPod{"10.0.0.1": {Identity: "spiffe://td/ns/a/sa/b"}}
	if changed, _ := b.Publish(snap); !changed || b.Latest().Snapshot.Revision != 2 {
		t.Fatalf("changed publish: revision %d", b.Latest().Snapshot.Revision)
	}
}

func BenchmarkBuildSnapshot(b *testing.B) {
	in := benchmarkInputs()
	b.ReportAllocs()
	for b.Loop() {
		BuildSnapshot(in)
	}
}

// benchmarkInputs is a mid-sized cluster: 2000 meshed pods, 500 services of 4 endpoints.
func benchmarkInputs() Inputs {
	in := Inputs{TrustDomain: td, DefaultMTLSMode: contract.MTLSPermissive}
	for i := range 2000 {
		ip := "10.1." + itoa(i/250) + "." + itoa(i%250)
		in.Pods = append(in.Pods, pod("ns"+itoa(i%20), "p"+itoa(i), ip))
	}
	for i := range 500 {
		svcIP := "10.96." + itoa(i/250) + "." + itoa(i%250)
		in.Services = append(in.Services, service("ns"+itoa(i%20), "s"+itoa(i), svcIP, corev1.ServicePort{Name: "http", Port: 80}))
		var eps []sliceEndpoint
		for j := range 4 {
			k := (i*4 + j) % 2000
			eps = append(eps, sliceEndpoint{"10.1." + itoa(k/250) + "." + itoa(k%250), nil})
		}
		in.EndpointSlices = append(in.EndpointSlices, slice("ns"+itoa(i%20), "s"+itoa(i), "s"+itoa(i)+"-1",
			[]discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}}, eps...))
	}
	return in
}

func itoa(i int) string { return strconv.Itoa(i) }

// BenchmarkPublishToWatchers measures publishing a changed snapshot of 2000
// pods / 500 services to 200 subscribed streams that each read the new line.
func BenchmarkPublishToWatchers(b *testing.B) {
	// Two snapshots differing in one pod, published alternately, so every
	// publish is a real change.
	snaps := [2]contract.DiscoverySnapshot{BuildSnapshot(benchmarkInputs()), BuildSnapshot(benchmarkInputs())}
	snaps[1].Pods["10.250.0.1"] = contract.MeshedPod{Identity: "spiffe://td/ns/x/sa/extra"}
	bc := NewBroadcaster()
	const watchers = 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range watchers {
		notify, cancel := bc.Subscribe()
		wg.Go(func() {
			defer cancel()
			for {
				select {
				case <-stop:
					return
				case <-notify:
					_ = bc.Latest().Line
				}
			}
		})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if changed, err := bc.Publish(snaps[i%2]); err != nil || !changed {
			b.Fatalf("publish: %v %v", changed, err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestBroadcasterAdvertisesIssuer(t *testing.T) {
	b := NewBroadcaster()
	// Known before the first snapshot: no publish yet, the first one carries it.
	if published, _ := b.SetIssuer("aa"); published {
		t.Fatal("published before any snapshot")
	}
	pods := map[string]contract.MeshedPod{"10.0.0.1": {Identity: "spiffe://td/ns/a/sa/a"}}
	if _, err := b.Publish(contract.DiscoverySnapshot{Pods: pods}); err != nil {
		t.Fatal(err)
	}
	if got := b.Latest().Snapshot; got.Issuer != "aa" || got.Revision != 1 {
		t.Fatalf("first snapshot %+v", got)
	}
	if published, _ := b.SetIssuer("aa"); published {
		t.Fatal("unchanged issuer republished")
	}
	// A change republishes the same table under a new revision.
	if published, err := b.SetIssuer("bb"); !published || err != nil {
		t.Fatalf("changed issuer: published %v, %v", published, err)
	}
	if got := b.Latest().Snapshot; got.Issuer != "bb" || got.Revision != 2 || got.Pods["10.0.0.1"].Identity != "spiffe://td/ns/a/sa/a" {
		t.Fatalf("issuer snapshot %+v", got)
	}
	// Later table snapshots keep the issuer; an unchanged table is still skipped.
	if changed, _ := b.Publish(contract.DiscoverySnapshot{Pods: pods}); changed {
		t.Fatal("unchanged table republished")
	}
	if _, err := b.Publish(contract.DiscoverySnapshot{Pods: map[string]contract.MeshedPod{}}); err != nil {
		t.Fatal(err)
	}
	if got := b.Latest().Snapshot; got.Issuer != "bb" || got.Revision != 3 {
		t.Fatalf("table snapshot %+v", got)
	}
}

func TestStreamDeliversIssuerChange(t *testing.T) {
	b := NewBroadcaster()
	if _, err := b.Publish(contract.DiscoverySnapshot{Pods: map[string]contract.MeshedPod{}}); err != nil {
		t.Fatal(err)
	}
	h, err := NewStreamHandler(b, StreamConfig{Auth: anyone{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s := openStream(t, startStream(t, h))
	if snap := s.next(t); snap.Issuer != "" {
		t.Fatalf("issuer %q before any is known", snap.Issuer)
	}
	if _, err := b.SetIssuer("cafe"); err != nil {
		t.Fatal(err)
	}
	if snap := s.next(t); snap.Issuer != "cafe" || snap.Revision != 2 {
		t.Fatalf("after the issuer change: %+v", snap)
	}
}
