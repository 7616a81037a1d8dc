#!/usr/bin/env bash
# Builds the pinned kube-apiserver and etcd (and kubectl when the machine has none) from the Go
# wrapper modules under hack/control-plane/, into a cache outside the repository. Skips a binary
# whose pinned version is already there. Prints the bin directory on its last line.
#
# With DBUSER_NODE_BINARIES=1 it also builds what the single-node dev cluster adds
# (hack/cluster-up.sh): kubelet, kube-controller-manager and kube-scheduler, from the same module.
#
#   DBUSER_BIN_DIR   where the binaries go (default ${XDG_CACHE_HOME:-$HOME/.cache}/dbuser-operator/bin)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh" # go_mod_version, build_go_binary
bin_dir=${DBUSER_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dbuser-operator/bin}
mkdir -p "$bin_dir"
# One build at a time per cache (clones and worktrees share it): the others wait, then find the
# binaries built.
exec 9> "$bin_dir/.lock"
flock 9

k8s_version=$(go_mod_version "$here/control-plane/kube-apiserver" k8s.io/kubernetes)
etcd_version=$(go_mod_version "$here/control-plane/etcd" go.etcd.io/etcd/server/v3)
k8s_minor=$(echo "$k8s_version" | cut -d. -f2)

build_one() { # name version module-dir package ldflags
  build_go_binary "$bin_dir" "$@"
}

k8s_ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version \
 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$k8s_minor"

build_one etcd "$etcd_version" "$here/control-plane/etcd" go.etcd.io/etcd/server/v3 ""
build_one kube-apiserver "$k8s_version" "$here/control-plane/kube-apiserver" \
  k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
if ! command -v kubectl >/dev/null 2>&1; then
  build_one kubectl "$k8s_version" "$here/control-plane/kube-apiserver" \
    k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
fi
if [ "${DBUSER_NODE_BINARIES:-0}" = 1 ]; then
  for name in kube-controller-manager kube-scheduler kubelet; do
    build_one "$name" "$k8s_version" "$here/control-plane/kube-apiserver" \
      "k8s.io/kubernetes/cmd/$name" "$k8s_ldflags"
  done
fi
echo "$bin_dir"
