# Local Kubernetes without Docker, images, e2e and the demo (test/cluster/README.md).
# Included by the root Makefile, which defines GO, BIN_DIR, IMG and VERSION.

MESHCLUSTER     = $(BIN_DIR)/meshcluster
CLUSTER_DIR    ?= /var/lib/meshkeeper-cluster
CLUSTER_KUBECONFIG = $(CLUSTER_DIR)/kubeconfig/admin.kubeconfig
CLUSTER_ENV     = MESHKEEPER_CLUSTER_DIR=$(CLUSTER_DIR)
E2E_TIMEOUT    ?= 40m

.PHONY: meshcluster
meshcluster:
	@CGO_ENABLED=0 $(GO) build -trimpath -o $(MESHCLUSTER) ./test/cluster/cmd/meshcluster

##@ Local cluster
.PHONY: cluster-up
cluster-up: meshcluster ## Start the local cluster (root; prints the kubeconfig path).
	@$(CLUSTER_ENV) $(MESHCLUSTER) up -repo $(CURDIR)

.PHONY: cluster-down
cluster-down: meshcluster ## Stop the local cluster and restore the host.
	@$(CLUSTER_ENV) $(MESHCLUSTER) down

.PHONY: cluster-status
cluster-status: meshcluster ## Show the local cluster's processes, node and pods.
	@$(CLUSTER_ENV) $(MESHCLUSTER) status

.PHONY: cluster-logs
cluster-logs: meshcluster ## Copy every component and container log plus events into LOGS_DIR (default bin/cluster-logs).
	@$(CLUSTER_ENV) $(MESHCLUSTER) logs $(or $(LOGS_DIR),$(BIN_DIR)/cluster-logs)

.PHONY: images
images: ## Build every image (manager IMG, mesh releases, sample app) and import it into the local cluster.
	@$(CLUSTER_ENV) $(GO) run ./test/images/cmd/mkimages -manager-img $(IMG) -version $(VERSION) -out $(BIN_DIR)/images $(IMAGES_FLAGS)

.PHONY: test-e2e
test-e2e: ## End-to-end tests on the local cluster (or on KUBECONFIG when given).
	$(CLUSTER_ENV) MESHKEEPER_IMG=$(IMG) MESHKEEPER_VERSION=$(VERSION) \
		$(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -v ./test/e2e/...

##@ Demo
.PHONY: demo
demo: meshcluster ## Build everything, start the cluster, install the mesh and a meshed sample app.
	@$(CLUSTER_ENV) IMG=$(IMG) VERSION=$(VERSION) MESHCLUSTER=$(MESHCLUSTER) GO=$(GO) bash test/demo/demo.sh up

.PHONY: demo-down
demo-down: meshcluster ## Tear the demo down and restore the host.
	@$(CLUSTER_ENV) MESHCLUSTER=$(MESHCLUSTER) bash test/demo/demo.sh down

##@ Benchmarks
.PHONY: bench-upgrade
bench-upgrade: ## Time full staged upgrades of 20 and 50 meshed pods on the local cluster (figures: bin/bench-upgrade.txt).
	@mkdir -p $(BIN_DIR)
	$(CLUSTER_ENV) MESHKEEPER_IMG=$(IMG) MESHKEEPER_VERSION=$(VERSION) \
		$(GO) test -tags e2e -count=1 -timeout 90m -run '^$$' -bench BenchmarkUpgrade -benchtime 1x -v ./test/e2e/ 2>&1 | tee $(BIN_DIR)/bench-upgrade.txt
