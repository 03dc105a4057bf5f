#!/usr/bin/env bash
# make demo / make demo-down: the whole product on a local cluster in one command.
#   demo.sh up     build, start the cluster, deploy the operator, install the mesh,
#                  run a meshed two-service app, print a summary
#   demo.sh down   tear everything down and restore the host
# Expects MESHCLUSTER (built by the make target), IMG, VERSION, GO from the Makefile.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

GO=${GO:-go}
IMG=${IMG:-ghcr.io/meshkeeper/manager:dev}
VERSION=${VERSION:-dev}
MESHCLUSTER=${MESHCLUSTER:-bin/meshcluster}
t0=$SECONDS
step() { printf '\n\033[1m[demo %4ss] %s\033[0m\n' "$((SECONDS - t0))" "$*" >&2; }

down() {
  step "tearing down the demo cluster"
  "$MESHCLUSTER" down
}

up() {
  step "1/6 building etcd, Kubernetes and CoreDNS from Go modules (cached; ~10 min the first time)"
  kube_bin=$(test/tools/build.sh)
  test/tools/build.sh coredns >/dev/null
  kubectl="$kube_bin/kubectl"

  step "2/6 starting the local cluster"
  if "$MESHCLUSTER" status >/dev/null 2>&1; then
    echo "a local cluster is already running: reusing it" >&2
    kubeconfig=$("$MESHCLUSTER" status | awk '/^kubeconfig:/ {print $2}')
  else
    kubeconfig=$("$MESHCLUSTER" up -repo "$PWD")
  fi
  export KUBECONFIG=$kubeconfig
  k() { "$kubectl" "$@"; }

  step "3/6 building the manager, control-plane, proxy, proxy-init and sample-app images"
  "$GO" run ./test/images/cmd/mkimages -strict -manager-img "$IMG" -version "$VERSION" -out bin/images

  step "4/6 deploying the operator (make deploy)"
  make --no-print-directory deploy IMG="$IMG" KUBECONFIG="$KUBECONFIG" KUBECTL="$kubectl"
  k -n meshkeeper-system rollout status deployment/meshkeeper-controller-manager --timeout=180s

  step "5/6 installing the mesh: config/samples/mesh_v1alpha1_meshinstallation.yaml"
  applied_ms=$(date +%s%3N)
  k apply -f config/samples/mesh_v1alpha1_meshinstallation.yaml
  k wait meshinstallation/mesh --for=condition=Ready --timeout=300s
  ready_ms=$(( $(date +%s%3N) - applied_ms ))

  step "6/6 deploying the sample app in the meshed namespace 'demo'"
  k apply -f test/demo/sample-app.yaml
  k -n demo rollout status deployment/backend --timeout=180s
  k -n demo rollout status deployment/frontend --timeout=180s

  echo "letting the frontend call the backend for a few seconds..." >&2
  sleep 5
  "$GO" run ./test/demo/summary -kubeconfig "$KUBECONFIG" -kubectl "$kubectl" -ready-after "${ready_ms}ms"

  step "kubectl meshkeeper check, status and stat (the plugin: bin/kubectl-meshkeeper)"
  "$GO" build -o bin/kubectl-meshkeeper ./cmd/kubectl-meshkeeper
  plugin() { bin/kubectl-meshkeeper --kubeconfig "$KUBECONFIG" "$@"; }
  # The operator's status trails the rollout by a reconcile or two: give
  # check a minute to pass quietly, then run it for the record.
  for _ in $(seq 12); do plugin check >/dev/null 2>&1 && break; sleep 5; done
  plugin check || { echo "demo: kubectl meshkeeper check failed (above)" >&2; exit 1; }
  echo
  plugin status
  echo
  plugin stat demo --window 10s
  echo "demo ready in $((SECONDS - t0))s"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
