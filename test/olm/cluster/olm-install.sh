#!/usr/bin/env bash
# Install meshkeeper through OLM on the local cluster (`make cluster-up`), the way
# an OperatorHub user does: OLM's CRDs, the olm and catalog operators and `opm
# serve catalog/` run as host processes built from Go modules (test/olm/cluster
# go.mod); a CatalogSource points at opm's gRPC address; an OperatorGroup and a
# Subscription in meshkeeper-system make OLM resolve the bundle, unpack it with
# its Job (the bundle, opm and util images are built from bundle/ and Go here by
# test/olm/cmd/olmimages and imported into containerd), install and run the
# CSV; then a MeshInstallation is created and must become Ready.
#
#   make cluster-up && make images IMG=ghcr.io/meshkeeper/manager:$(VERSION) VERSION=$(VERSION)
#   test/olm/cluster/olm-install.sh up      # install and assert; leaves it running
#   test/olm/cluster/olm-install.sh down    # uninstall and stop the OLM processes
#
# Environment: KUBECONFIG (default: the local cluster's), KUBECTL, OLM_BIN (where
# the programs are built, default bin/olm), READY_TIMEOUT (seconds, default 600),
# INSTALL_MODE (OwnNamespace, the default, or AllNamespaces), BUNDLE_IMAGES=0
# (no images: serve the catalog without its bundle image, so that OLM installs
# from the manifests the bundle blob embeds).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
MOD="$ROOT/test/olm/cluster"
OLM_BIN=${OLM_BIN:-$ROOT/bin/olm}
RUN="$OLM_BIN/run"
export KUBECONFIG=${KUBECONFIG:-${MESHKEEPER_CLUSTER_DIR:-/var/lib/meshkeeper-cluster}/kubeconfig/admin.kubeconfig}
KUBECTL=${KUBECTL:-$("$ROOT/test/tools/build.sh")/kubectl}
READY_TIMEOUT=${READY_TIMEOUT:-600}
INSTALL_MODE=${INSTALL_MODE:-OwnNamespace} # or AllNamespaces
NS=meshkeeper-system
GRPC=127.0.0.1:50051

log() { printf '[olm] [%s] %s\n' "$(date +%T)" "$*"; }
k() { "$KUBECTL" "$@"; }

build() {
	mkdir -p "$OLM_BIN"
	log "building olm, catalog (operator-lifecycle-manager) and opm (operator-registry) from Go modules"
	(cd "$MOD" && CGO_ENABLED=0 go build -trimpath -o "$OLM_BIN/" \
		github.com/operator-framework/operator-lifecycle-manager/cmd/olm \
		github.com/operator-framework/operator-lifecycle-manager/cmd/catalog)
	# containers/image wants gpgme (cgo) unless told to use its Go openpgp.
	(cd "$MOD" && CGO_ENABLED=0 go build -trimpath -tags containers_image_openpgp,exclude_graphdriver_btrfs,exclude_graphdriver_devicemapper \
		-o "$OLM_BIN/" github.com/operator-framework/operator-registry/cmd/opm)
}

# start NAME CMD...: a host process in its own session, its PID in $RUN/NAME.pid.
start() {
	local name=$1; shift
	mkdir -p "$RUN"
	setsid "$@" >"$RUN/$name.log" 2>&1 < /dev/null &
	echo $! > "$RUN/$name.pid"
	log "started $name (pid $!, log $RUN/$name.log)"
}

stop() {
	local f pid
	for f in "$RUN"/*.pid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		if kill -0 "$pid" 2>/dev/null; then kill "$pid" && log "stopped $(basename "$f" .pid) (pid $pid)"; fi
		rm -f "$f"
	done
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds.
wait_for() {
	local t=$1 what=$2; shift 2
	local end=$((SECONDS + t))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS > end)); then log "timed out waiting for $what"; return 1; fi
		sleep 3
	done
	log "$what"
}

csv_phase() { [ "$(k -n $NS get csv "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" = "$2" ]; }
mi_reconciled() {
	local gen obs
	gen=$(k get mi mesh -o jsonpath='{.metadata.generation}')
	obs=$(k get mi mesh -o jsonpath='{.status.observedGeneration}')
	[ -n "$obs" ] && [ "$obs" = "$gen" ]
}
mi_ready() { [ "$(k get mi mesh -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }

up() {
	[ -x "$OLM_BIN/olm" ] && [ -x "$OLM_BIN/catalog" ] && [ -x "$OLM_BIN/opm" ] || build
	local version csv api
	version=$(sed -n 's/^VERSION ?= *//p' "$ROOT/Makefile")
	csv=meshkeeper.v$version
	"$OLM_BIN/opm" validate "$ROOT/catalog"
	log "opm validate catalog/: ok"

	api=$(cd "$MOD" && go list -m -f '{{.Dir}}' github.com/operator-framework/api)
	log "OLM CRDs from $api/crds"
	k apply --server-side -f "$api/crds/" >/dev/null
	k wait --for condition=Established --timeout=60s crd -l '!nonexistent' >/dev/null
	k create namespace olm --dry-run=client -o yaml | k apply -f - >/dev/null

	# The catalog names the bundle image; OLM v0 unpacks it with a Job that runs
	# that image, an opm image and OLM's util image. None can be pulled here, so
	# they are built and imported (BUNDLE_IMAGES=1, the default). The bundle blob
	# also embeds every manifest (olm.bundle.object); without an image OLM
	# installs from those (BUNDLE_IMAGES=0).
	local served="$OLM_BIN/catalog-served" unpack=()
	rm -rf "$served" && cp -r "$ROOT/catalog" "$served"
	if [ "${BUNDLE_IMAGES:-1}" = 1 ]; then
		# OLM's unpack Job: OLM's cpb and a cp in a util image, opm in an opm
		# image and the bundle image, built here and imported into containerd.
		(cd "$MOD" && CGO_ENABLED=0 go build -trimpath -o "$OLM_BIN/" \
			github.com/operator-framework/operator-lifecycle-manager/util/cpb ./cmd/cp)
		local refs opm util bundle
		refs=$(cd "$ROOT/test/olm" && go run ./cmd/olmimages -root "$ROOT" -bin "$OLM_BIN")
		read -r opm util bundle <<<"$refs"
		log "imported $opm, $util and the bundle image $bundle"
		# By digest: OLM pulls tag references with imagePullPolicy Always.
		sed -i "s|^image: .*|image: $bundle|" "$served"/meshkeeper/meshkeeper.v"$version".yaml
		unpack=(--opmImage "$opm" --util-image "$util")
	else
		sed -i 's|^image: .*|image: ""|' "$served"/meshkeeper/meshkeeper.v*.yaml
		log "serving catalog/ with the bundle image removed (manifests embedded)"
	fi
	"$OLM_BIN/opm" validate "$served"
	start opm "$OLM_BIN/opm" serve "$served" -p "${GRPC##*:}"
	start catalog "$OLM_BIN/catalog" --kubeconfig "$KUBECONFIG" --namespace olm --writeStatusName "" "${unpack[@]}"
	start olm "$OLM_BIN/olm" --namespace olm --writeStatusName "" --writePackageServerStatusName ""

	k apply -f - <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
---
apiVersion: operators.coreos.com/v1alpha1
kind: CatalogSource
metadata:
  name: meshkeeper
  namespace: $NS
spec:
  sourceType: grpc
  address: $GRPC
  displayName: meshkeeper (local FBC)
  publisher: meshkeeper
---
# The operator's namespaced permissions (Secrets) are written for
# meshkeeper-system, hence the OperatorGroup here. OwnNamespace grants them in
# meshkeeper-system only; AllNamespaces (no targetNamespaces) makes OLM grant
# them cluster-wide.
apiVersion: operators.coreos.com/v1
kind: OperatorGroup
metadata:
  name: meshkeeper
  namespace: $NS
spec:
$(if [ "$INSTALL_MODE" = OwnNamespace ]; then printf '  targetNamespaces: [%s]' "$NS"; else printf '  upgradeStrategy: Default'; fi)
---
apiVersion: operators.coreos.com/v1alpha1
kind: Subscription
metadata:
  name: meshkeeper
  namespace: $NS
spec:
  name: meshkeeper
  channel: stable
  source: meshkeeper
  sourceNamespace: $NS
  installPlanApproval: Automatic
EOF
	wait_for 120 "CatalogSource READY" sh -c "[ \"\$('$KUBECTL' -n $NS get catalogsource meshkeeper -o jsonpath='{.status.connectionState.lastObservedState}')\" = READY ]"
	wait_for 300 "Subscription resolved to $csv" sh -c "[ \"\$('$KUBECTL' -n $NS get subscription meshkeeper -o jsonpath='{.status.installedCSV}')\" = $csv ]"
	wait_for "$READY_TIMEOUT" "CSV $csv Succeeded" csv_phase "$csv" Succeeded
	k -n $NS get csv,deploy,pods -o wide
	log "$INSTALL_MODE: the operator may get secrets in $NS: $(k auth can-i get secrets -n $NS --as system:serviceaccount:$NS:meshkeeper-controller-manager), in default: $(k auth can-i get secrets -n default --as system:serviceaccount:$NS:meshkeeper-controller-manager || true)"

	k apply -f "$ROOT/config/samples/mesh_v1alpha1_meshinstallation.yaml"
	wait_for 180 "MeshInstallation mesh reconciled (status.observedGeneration = metadata.generation)" mi_reconciled
	if wait_for "$READY_TIMEOUT" "MeshInstallation mesh Ready" mi_ready; then
		k get mi mesh -o wide
		log "PASS: installed through OLM and reconciled a MeshInstallation to Ready"
	else
		k get mi mesh -o yaml | sed -n '/^status:/,$p'
		log "FAIL: the MeshInstallation did not become Ready"
		return 1
	fi
}

down() {
	k delete mi --all --wait --timeout=5m --ignore-not-found || true
	k -n $NS delete subscription meshkeeper --ignore-not-found || true
	k -n $NS delete csv,installplan --all --ignore-not-found || true
	k -n $NS delete catalogsource,operatorgroup meshkeeper --ignore-not-found || true
	stop
}

case ${1:-up} in
	build) build ;;
	up) up ;;
	down) down ;;
	*) echo "usage: $0 build|up|down" >&2; exit 2 ;;
esac
