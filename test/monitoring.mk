# Alerts, monitors and the Grafana dashboard (config/prometheus, config/grafana).
# Included by the root Makefile, which defines GO.

PROM_RULES = config/prometheus/rules/meshkeeper.rules.yaml

.PHONY: test-monitoring
test-monitoring: ## promtool check/test the alert rules; check the dashboard's and rules' queries name only exported metrics; promtool check metrics on the operator's.
	@bash test/tools/ensure-deb.sh promtool prometheus
	promtool check rules $(PROM_RULES)
	promtool test rules $(PROM_RULES:.yaml=_test.yaml)
	MESHKEEPER_REQUIRE_PROMTOOL=1 $(GO) test -count=1 ./test/monitoring/ ./internal/operator/opmetrics/
