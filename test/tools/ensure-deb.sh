#!/usr/bin/env bash
# ensure-deb.sh COMMAND PACKAGE: installs the Debian PACKAGE when COMMAND is
# not on PATH, so a make target installs the tool it needs instead of
# assuming it (apt-get is one of the networks this project may use).
set -euo pipefail
cmd=$1 pkg=$2
command -v "$cmd" >/dev/null && exit 0
echo "installing Debian package $pkg for $cmd" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
timeout 300 $sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive timeout 600 $sudo apt-get install -y -qq --no-install-recommends "$pkg"
command -v "$cmd" >/dev/null || { echo "$pkg installed no $cmd" >&2; exit 1; }
