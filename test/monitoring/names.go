package monitoring

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/opmetrics"
)

// Exported is every series name the code serves under meshkeeper_: the
// operator's, and the proxies' with a histogram's _bucket, _sum and _count.
func Exported() map[string]bool {
	names := map[string]bool{}
	for _, n := range opmetrics.Names() {
		names[n] = true
	}
	for _, n := range []string{contract.MetricBuildInfo, contract.MetricRequestsTotal, contract.MetricTCPConnectionsTotal,
		contract.MetricTCPOpenConnections, contract.MetricTCPBytesTotal, contract.MetricRefusedConnectionsTotal,
		contract.MetricRetriesTotal} {
		names[n] = true
	}
	for _, h := range []string{contract.MetricRequestDuration, contract.MetricTCPConnectionDuration} {
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			names[h+s] = true
		}
	}
	return names
}

var (
	// A meshkeeper series name anywhere in a query, and any identifier
	// directly followed by a label matcher or a range (only a metric name can be).
	meshkeeperName = regexp.MustCompile(`\bmeshkeeper_[a-zA-Z0-9_:]*`)
	selectorName   = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]`)
	quoted         = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
)

// Unknown returns the metric names a query uses that known lacks, sorted.
func Unknown(query string, known map[string]bool) []string {
	q := quoted.ReplaceAllString(query, `""`) // label values are not names
	seen := map[string]bool{}
	for _, n := range meshkeeperName.FindAllString(q, -1) {
		seen[n] = true
	}
	for _, m := range selectorName.FindAllStringSubmatch(q, -1) {
		seen[m[1]] = true
	}
	var out []string
	for n := range seen {
		if !known[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// grafanaVars replaces Grafana's variables with PromQL a parser accepts.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$__interval", "1m")

var variable = regexp.MustCompile(`\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?`)

// PromQL turns a dashboard query into plain PromQL: label_values(sel, label)
// becomes sel, and variables become a match-anything regex.
func PromQL(query string) (string, error) {
	q := strings.TrimSpace(grafanaVars.Replace(query))
	if rest, ok := strings.CutPrefix(q, "label_values("); ok {
		i := strings.LastIndex(rest, ",")
		if i < 0 || !strings.HasSuffix(rest, ")") {
			return "", fmt.Errorf("label_values without a selector: %q", query)
		}
		q = strings.TrimSpace(rest[:i])
	}
	return variable.ReplaceAllString(q, ".*"), nil
}
