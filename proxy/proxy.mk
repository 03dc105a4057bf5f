##@ Proxy (data plane)
PROXY_LDFLAGS = -s -w -X github.com/meshkeeper/meshkeeper/internal/buildinfo.Version=$(VERSION)

.PHONY: build-proxy
build-proxy: ## Build the static proxy, proxy-init and meshkeeper-cni binaries into bin/.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(PROXY_LDFLAGS)" -o $(BIN_DIR)/ ./cmd/proxy ./cmd/proxy-init ./cmd/meshkeeper-cni

.PHONY: test-proxy
test-proxy: ## Unit and loopback tests of the data plane (the netns tests need root).
	$(GO) test -count=1 ./proxy/... ./cmd/proxy/... ./cmd/proxy-init/... ./cmd/meshkeeper-cni/...
	cd proxy/bench && $(GO) test -count=1 ./...
	$(GO) test -count=1 -tags meshkeeper_faults ./proxy/config/... ./proxy/httpfwd/... ./proxy/sidecar/...

.PHONY: fuzz-proxy
fuzz-proxy: ## Fuzz protocol detection for FUZZTIME (default 30s).
	$(GO) test ./proxy/detect -run '^$$' -fuzz FuzzDetect -fuzztime $(or $(FUZZTIME),30s)

BENCH_PROXY_ARGS ?= -rates 1000,2000 -duration 10s -warmup 2s -rounds 5
.PHONY: bench-proxy
bench-proxy: ## Loopback latency/CPU/RSS of the proxy pair vs direct and vs HAProxy mTLS; figures in bin/bench-proxy.md.
	@mkdir -p $(BIN_DIR)
	cd proxy/bench && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(PROXY_LDFLAGS)" -o $(BIN_DIR)/benchproxy ./cmd/benchproxy
	bash test/tools/ensure-deb.sh haproxy haproxy
	$(BIN_DIR)/benchproxy $(BENCH_PROXY_ARGS) -out $(BIN_DIR)/bench-proxy.md

BENCH_SLOWHEADERS_ARGS ?= -conns 500 -duration 30s -rate 200
.PHONY: bench-slowheaders
bench-slowheaders: ## 500 slow-header connections against a loopback proxy pair: proxy RSS and healthy p50/p99; figures in bin/bench-slowheaders.md.
	@mkdir -p $(BIN_DIR)
	cd proxy/bench && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(PROXY_LDFLAGS)" -o $(BIN_DIR)/benchslowheaders ./cmd/benchslowheaders
	$(BIN_DIR)/benchslowheaders $(BENCH_SLOWHEADERS_ARGS) -out $(BIN_DIR)/bench-slowheaders.md

.PHONY: bench-proxy-destinations
bench-proxy-destinations: ## Heap and series of one proxy with 1 vs 50 outbound destinations; figures in bin/bench-destinations.txt.
	@mkdir -p $(BIN_DIR)
	$(GO) test -run '^$$' -bench FiftyDestinations -benchtime 1x -count 3 ./proxy/sidecar/ | tee $(BIN_DIR)/bench-destinations.txt

.PHONY: check-proxy-metrics
check-proxy-metrics: ## promtool check metrics on proxies' /metrics after gRPC, websocket and HTTP traffic (installs prometheus when promtool is missing).
	bash test/tools/ensure-deb.sh promtool prometheus
	MESHKEEPER_REQUIRE_PROMTOOL=1 $(GO) test -count=1 -run TestPromtoolAcceptsMetrics -v ./proxy/sidecar/
