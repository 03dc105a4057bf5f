#!/usr/bin/env bash
# Builds etcd and the Kubernetes commands from Go modules into a cache shared by
# every checkout on this machine, so CI and later runs reuse them.
#   test/tools/build.sh          -> prints the bin dir after making sure it is complete
#   test/tools/build.sh coredns  -> prints the path of the CoreDNS binary (built on first use)
# Nothing is downloaded except through the Go module proxy.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kube_version=$(cd "$here/kube" && go list -m -f "{{.Version}}" k8s.io/kubernetes)
etcd_version=$(cd "$here/etcd" && go list -m -f "{{.Version}}" go.etcd.io/etcd/server/v3)
cache=${MESHKEEPER_CACHE:-$HOME/.cache/meshkeeper}
bin="$cache/kube-$kube_version-etcd-$etcd_version/bin"
coredns_version=v1.14.7
kube_cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)

log() { echo "[assets] $*" >&2; }

# CGO stays off for every build so the build cache is shared and binaries are static.
export CGO_ENABLED=0

# CoreDNS builds as is with `go install` (no replace directives); it runs in-cluster
# from an image the harness makes, so it gets a cache dir of its own.
if [ "${1:-}" = coredns ]; then
  dns_bin="$cache/coredns-$coredns_version/bin"
  if [ ! -x "$dns_bin/coredns" ]; then
    log "building CoreDNS $coredns_version (about 2 minutes cold)..."
    start=$SECONDS
    mkdir -p "$dns_bin"
    GOBIN="$dns_bin" GOFLAGS=-trimpath go install "github.com/coredns/coredns@$coredns_version"
    log "CoreDNS built in $((SECONDS - start))s"
  fi
  echo "$dns_bin/coredns"
  exit 0
fi

mkdir -p "$bin"

if [ ! -x "$bin/etcd" ]; then
  log "building etcd $etcd_version (about a minute)..."
  start=$SECONDS
  (cd "$here/etcd" && go build -trimpath -o "$bin/etcd.tmp" .)
  mv "$bin/etcd.tmp" "$bin/etcd"
  log "etcd built in $((SECONDS - start))s"
fi

missing=()
for c in "${kube_cmds[@]}"; do [ -x "$bin/$c" ] || missing+=("$c"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "building Kubernetes $kube_version: ${kube_cmds[*]} (about 5 minutes cold on 2 cores)..."
  start=$SECONDS
  minor=${kube_version#v1.}; minor=${minor%%.*}
  ldflags=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$kube_version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  done
  tmp="$bin/.build"; rm -rf "$tmp"; mkdir -p "$tmp"
  pkgs=(); for c in "${kube_cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$here/kube" && go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}")
  mv "$tmp"/* "$bin/" && rmdir "$tmp"
  log "Kubernetes built in $((SECONDS - start))s"
fi
echo "$bin"
