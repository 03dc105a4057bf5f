# OLM: the operator bundle, its file-based catalog and their validation
# (test/olm, a Go module of its own so operator-framework stays out of go.mod).
# Included by the root Makefile, which defines GO and VERSION.

OLM_DIR   = test/olm
BUNDLEGEN = cd $(OLM_DIR) && $(GO) run ./cmd/bundlegen -root $(CURDIR) -version $(VERSION)

##@ OLM
.PHONY: bundle
bundle: ## Generate bundle/ and bundle.Dockerfile (OLM registry+v1) for VERSION from config/manifests.
	@$(BUNDLEGEN) -only bundle

.PHONY: catalog
catalog: ## Generate the file-based catalog catalog/ for VERSION (serve it with `opm serve catalog`).
	@$(BUNDLEGEN) -only catalog

.PHONY: test-bundle
test-bundle: ## Fail unless bundle/ and catalog/ are up to date and pass the operator-framework validators (no network).
	cd $(OLM_DIR) && $(GO) vet ./... && $(GO) test ./... -count=1

.PHONY: olm-install
olm-install: ## Install meshkeeper through OLM (olm, catalog, opm built from Go modules; bundle/opm/util images built here) on the local cluster; needs cluster-up and images IMG=ghcr.io/meshkeeper/manager:$(VERSION).
	test/olm/cluster/olm-install.sh up

.PHONY: olm-uninstall
olm-uninstall: ## Remove meshkeeper's Subscription/CSV and stop the OLM processes started by olm-install.
	test/olm/cluster/olm-install.sh down
