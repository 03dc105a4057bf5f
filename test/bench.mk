##@ Benchmarks
.PHONY: bench-operator
bench-operator: test-assets ## Scale simulation of the operator (200 and 5,000 meshed pods) against envtest; writes bin/bench-operator.md (about 2–3 minutes).
	@mkdir -p $(BIN_DIR)
	$(GO) build -o $(BIN_DIR)/bench-operator ./test/benchoperator
	KUBEBUILDER_ASSETS="$$(test/tools/build.sh)" $(BIN_DIR)/bench-operator -out $(BIN_DIR)/bench-operator.md $(if $(POINTS),-points $(POINTS))
	@cat $(BIN_DIR)/bench-operator.md
