# meshkeeper — kubebuilder v4 layout. `make help` lists the targets.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

GO ?= go
BIN_DIR = $(CURDIR)/bin
IMG ?= ghcr.io/meshkeeper/manager:dev
VERSION ?= 0.1.0
# Static, reproducible binaries; the same CGO setting everywhere keeps the build cache warm.
export CGO_ENABLED ?= 0
LDFLAGS = -X github.com/meshkeeper/meshkeeper/internal/buildinfo.Version=$(VERSION)
CONTROLLER_GEN = $(GO) tool controller-gen

.PHONY: all
all: build

##@ General
.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-20s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development
.PHONY: manifests
manifests: ## Generate the CRD and RBAC manifests from the API markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: fmt
fmt: ## gofmt the tree.
	$(GO) fmt ./...

.PHONY: vet
vet: ## go vet the tree (proxy/bench is a module of its own).
	$(GO) vet ./...
	cd proxy/bench && $(GO) vet ./...

.PHONY: test-assets
test-assets: ## Build etcd and the Kubernetes binaries from Go modules into the shared cache.
	@test/tools/build.sh >/dev/null

.PHONY: verify-generated
verify-generated: generate manifests ## Fail when generated files are not committed.
	@git diff --exit-code -- api config || { echo "generated files are stale: run 'make generate manifests' and commit"; exit 1; }

.PHONY: verify-tidy
verify-tidy: ## Fail when go.mod/go.sum of any module in the repo is not what `go mod tidy` writes.
	@for mod in $$(git ls-files -- 'go.mod' '*/go.mod'); do \
		dir=$$(dirname $$mod); \
		( cd $$dir && $(GO) mod tidy -diff ) || { echo "$$dir: go.mod is not tidy: run 'go mod tidy' there and commit"; exit 1; }; \
	done

.PHONY: test-unit
test-unit: test-assets ## Unit and envtest integration tests.
	KUBEBUILDER_ASSETS="$$(test/tools/build.sh)" $(GO) test ./... -count=1
	cd proxy/bench && $(GO) test ./... -count=1
	$(GO) test -count=1 -tags meshkeeper_faults ./proxy/config/... ./proxy/httpfwd/... ./proxy/sidecar/...

.PHONY: test
test: vet verify-tidy verify-generated test-monitoring test-unit test-bundle test-e2e ## Every test: unit, envtest, generated-file checks, OLM bundle validation and e2e on the local cluster.

##@ Build
.PHONY: build
build: ## Build every program into bin/.
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN_DIR)/ ./cmd/...

# krew: one archive per platform and a manifest with their real sha256s
# (internal/krew); a release uploads bin/krew/*.tar.gz to KREW_URL_BASE.
KREW_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
KREW_URL_BASE ?= https://github.com/meshkeeper/meshkeeper/releases/download/v$(VERSION)
.PHONY: krew
krew: ## Build kubectl-meshkeeper archives for krew into bin/krew and write bin/krew/meshkeeper.yaml with their sha256s.
	rm -rf $(BIN_DIR)/krew
	for p in $(KREW_PLATFORMS); do \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN_DIR)/krew/$${p%/*}_$${p#*/}/kubectl-meshkeeper ./cmd/kubectl-meshkeeper; \
	done
	$(GO) run ./internal/krew/cmd/mkkrew -dir $(BIN_DIR)/krew -license LICENSE -version v$(VERSION) -url-base $(KREW_URL_BASE)

.PHONY: run
run: manifests generate ## Run the manager against the current kubeconfig.
	$(GO) run ./cmd/manager --leader-elect=false

##@ Deployment
KUBECTL ?= kubectl
.PHONY: install
install: manifests ## Install the CRD into the cluster of KUBECONFIG.
	$(KUBECTL) apply --server-side -k config/crd

.PHONY: uninstall
uninstall: ## Remove the CRD (and every MeshInstallation) from the cluster.
	$(KUBECTL) delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests ## Deploy the operator (config/default) with the manager image IMG.
	$(KUBECTL) kustomize config/default | sed "s|ghcr.io/meshkeeper/manager:latest|$(IMG)|" | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove the operator deployed by `make deploy` (installations first, while the operator can still finalize them).
	-$(KUBECTL) delete meshinstallations --all --wait --timeout=5m
	$(KUBECTL) kustomize config/default | $(KUBECTL) delete --ignore-not-found -f -

# Fragments owned by the parts of the tree they build or test.
-include $(wildcard test/*.mk proxy/*.mk)
