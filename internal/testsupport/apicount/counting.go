// Package apicount counts the API requests a client sends, by verb and
// resource, through a rest.Config transport wrapper: the benchmark and the
// envtest tests use it to count requests instead of timing them.
package apicount

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// Key is one kind of API request: the verb as the API server names it (get,
// list, watch, create, update, patch, delete), the resource (with its
// subresource, e.g. "pods/status") and whether it was a dry run, which the
// server never persists.
type Key struct {
	Verb, Resource string
	DryRun         bool
}

func (k Key) String() string {
	s := k.Verb + " " + k.Resource
	if k.DryRun {
		s += " (dry run)"
	}
	return s
}

// Write reports whether the request changes stored state.
func (k Key) Write() bool {
	switch k.Verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return !k.DryRun
	}
	return false
}

// Counts are requests by kind.
type Counts map[Key]int

// Writes is the number of requests that change stored state.
func (c Counts) Writes() int {
	n := 0
	for k, v := range c {
		if k.Write() {
			n += v
		}
	}
	return n
}

// Total is the number of requests.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Match counts the requests of a verb on a resource ("" matches any).
func (c Counts) Match(verb, resource string) int {
	n := 0
	for k, v := range c {
		if (verb == "" || k.Verb == verb) && (resource == "" || k.Resource == resource) {
			n += v
		}
	}
	return n
}

// Lines renders the counts, each divided by per (e.g. per reconcile), most first.
func (c Counts) Lines(per int) []string {
	keys := make([]Key, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c[keys[i]] != c[keys[j]] {
			return c[keys[i]] > c[keys[j]]
		}
		return keys[i].String() < keys[j].String()
	})
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s: %.2f", k, float64(c[k])/float64(max(per, 1))))
	}
	return out
}

// Counter counts the requests that pass through the transports it wraps.
// Watches are counted when they start, not per event.
type Counter struct {
	mu     sync.Mutex
	counts Counts
	info   *request.RequestInfoFactory
}

// NewCounter returns an empty counter.
func NewCounter() *Counter {
	return &Counter{counts: Counts{}, info: &request.RequestInfoFactory{
		APIPrefixes:          sets.NewString("api", "apis"),
		GrouplessAPIPrefixes: sets.NewString("api"),
	}}
}

// Wrap is a rest.Config WrapTransport.
func (c *Counter) Wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		c.record(req)
		return next.RoundTrip(req)
	})
}

func (c *Counter) record(req *http.Request) {
	key := Key{Verb: strings.ToLower(req.Method), Resource: req.URL.Path, DryRun: req.URL.Query().Has("dryRun")}
	if info, err := c.info.NewRequestInfo(req); err == nil && info.IsResourceRequest {
		key.Verb, key.Resource = info.Verb, info.Resource
		if info.APIGroup != "" {
			key.Resource += "." + info.APIGroup
		}
		if info.Subresource != "" {
			key.Resource += "/" + info.Subresource
		}
	}
	c.mu.Lock()
	c.counts[key]++
	c.mu.Unlock()
}

// Snapshot returns a copy of the counts so far.
func (c *Counter) Snapshot() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(Counts, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// Reset forgets the counts so far.
func (c *Counter) Reset() {
	c.mu.Lock()
	c.counts = Counts{}
	c.mu.Unlock()
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
