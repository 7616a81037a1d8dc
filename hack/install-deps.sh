#!/usr/bin/env bash
# Installs exactly the Debian packages that the build, the tests and the dev scripts need.
# Idempotent: installs nothing when everything is present; runs `apt-get update` only when it must
# install something.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# What no package can fix: say it in one line, before anything else runs.
require_writable_dev_dir
build_dir=${BUILD_DIR:-build}
case "$build_dir" in /*) ;; *) build_dir=$repo_root/$build_dir ;; esac
mkdir -p "$build_dir" 2>/dev/null && [ -w "$build_dir" ] ||
  die "cannot write $build_dir (read-only checkout?): clone somewhere writable or set BUILD_DIR"

packages=(
  build-essential cmake ninja-build pkg-config ccache
  libcaf-dev libpqxx-dev libpq-dev libcpprest-dev libboost-system-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev catch2 libyaml-cpp-dev libssl-dev
  postgresql-15 postgresql-client-15
  mariadb-server mariadb-client libmariadb-dev
  openssl curl ca-certificates procps psmisc python3
  # Monitoring and the debug page (test/monitoring, test/debug_ui): promtool and a Prometheus
  # server the dashboard test starts itself (never the packaged service), a headless browser.
  prometheus chromium python3-yaml
  # The single-node cluster and the image (hack/cluster-up.sh, hack/image.sh): containerd and
  # runc run the Pods, never as system services; mmdebstrap makes the base images from Debian
  # packages, buildah builds deploy/Dockerfile without a daemon.
  containerd runc buildah mmdebstrap containernetworking-plugins socat
  # test/e2e/faults_test.cpp drops a database server's packets on loopback (else it uses SIGSTOP).
  iptables
)
# Go builds the control plane (kube-apiserver, etcd); install Debian's only when none is present.
if ! command -v go >/dev/null 2>&1; then packages+=(golang-go); fi
# kubectl: the machine's is used; when absent, hack/build-control-plane.sh builds one.

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 ||
    die "missing packages (${missing[*]}) and no sudo: run as root, or install sudo and add $(id -un) to sudoers"
  sudo -n true 2>/dev/null || [ -t 0 ] ||
    die "missing packages (${missing[*]}): sudo needs a password and there is no terminal; run 'sudo -v' first"
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# Database servers are started by the dev scripts, never as system services: keep package
# scripts from starting them (policy-rc.d exit 101 = action forbidden).
restore_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  restore_policy=1
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
if [ -n "$restore_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
