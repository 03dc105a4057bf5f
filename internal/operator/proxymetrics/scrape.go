package proxymetrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	c "github.com/meshkeeper/meshkeeper/internal/contract"
)

// PodReport is the report of one pod's proxy, or why it could not be read.
type PodReport struct {
	Pod    types.NamespacedName
	Report Report
	Err    error
}

// Reader reads what meshed proxies report about themselves; Scraper in
// production, a stand-in in tests.
type Reader interface {
	Scrape(ctx context.Context, pods []corev1.Pod) []PodReport
}

// Scraper reads proxies' admin endpoints directly, pod by pod. Every read is
// bounded: MaxBodyBytes per body, the client's timeout per request (headers
// and body), and Deadline for a whole Scrape.
type Scraper struct {
	Client *http.Client
	// Parallel bounds concurrent scrapes (default 8).
	Parallel int
	// Deadline bounds one Scrape of all pods (0: only ctx bounds it); pods
	// not read by then report the deadline as their error.
	Deadline time.Duration
	port     int // the admin port; tests override contract.ProxyAdminPort
}

// Scrape bounds of NewScraper: one unresponsive proxy delays a reconcile by
// seconds at most, and a thousand of them by ScrapeDeadline.
const (
	RequestTimeout = 3 * time.Second
	ScrapeDeadline = 30 * time.Second
)

// NewScraper returns a scraper with the bounds above.
func NewScraper() *Scraper {
	return &Scraper{Client: &http.Client{Timeout: RequestTimeout}, Parallel: 8, Deadline: ScrapeDeadline}
}

// Scrape reads every pod's proxy; results keep the order of pods.
func (s *Scraper) Scrape(ctx context.Context, pods []corev1.Pod) []PodReport {
	if s.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Deadline)
		defer cancel()
	}
	out := make([]PodReport, len(pods))
	EachPod(pods, s.Parallel, func(i int) {
		out[i].Pod = types.NamespacedName{Namespace: pods[i].Namespace, Name: pods[i].Name}
		out[i].Report, out[i].Err = s.scrapeOne(ctx, &pods[i])
	})
	return out
}

// EachPod calls read for every index of pods, at most parallel (at least
// one) at a time, and returns when all have returned.
func EachPod(pods []corev1.Pod, parallel int, read func(i int)) {
	sem := make(chan struct{}, max(1, parallel))
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			read(i)
		}()
	}
	wg.Wait()
}

func (s *Scraper) scrapeOne(ctx context.Context, pod *corev1.Pod) (Report, error) {
	if pod.Status.PodIP == "" {
		return Report{}, fmt.Errorf("pod has no IP yet")
	}
	port := c.ProxyAdminPort
	if s.port != 0 {
		port = s.port
	}
	url := "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(port)) + c.MetricsPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Report{}, err
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return Report{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Report{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	rep, err := Parse(LimitBody(resp.Body, MaxBodyBytes))
	if err != nil {
		return Report{}, fmt.Errorf("GET %s: %w", url, err)
	}
	return rep, nil
}
