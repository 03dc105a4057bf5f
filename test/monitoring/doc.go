// Package monitoring checks the alerts (config/prometheus) and the Grafana
// dashboard (config/grafana) against the metrics the code exports: the
// proxies' names in internal/contract and the operator's in
// internal/operator/opmetrics. `make test-monitoring` runs it.
package monitoring
