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

// Scraper reads proxies' admin endpoints directly, pod by pod.
type Scraper struct {
	Client *http.Client
	// Parallel bounds concurrent scrapes (default 8).
	Parallel int
}

// NewScraper returns a scraper with a short per-request timeout, so one
// unresponsive proxy delays a reconcile by seconds at most.
func NewScraper() *Scraper {
	return &Scraper{Client: &http.Client{Timeout: 3 * time.Second}, Parallel: 8}
}

// Scrape reads every pod's proxy; results keep the order of pods.
func (s *Scraper) Scrape(ctx context.Context, pods []corev1.Pod) []PodReport {
	out := make([]PodReport, len(pods))
	sem := make(chan struct{}, max(1, s.Parallel))
	var wg sync.WaitGroup
	for i := range pods {
		out[i].Pod = types.NamespacedName{Namespace: pods[i].Namespace, Name: pods[i].Name}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i].Report, out[i].Err = s.scrapeOne(ctx, &pods[i])
		}(i)
	}
	wg.Wait()
	return out
}

func (s *Scraper) scrapeOne(ctx context.Context, pod *corev1.Pod) (Report, error) {
	if pod.Status.PodIP == "" {
		return Report{}, fmt.Errorf("pod has no IP yet")
	}
	url := "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(c.ProxyAdminPort)) + c.MetricsPath
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
	return Parse(resp.Body)
}
