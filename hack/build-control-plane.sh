#!/usr/bin/env bash
# Builds one pinned Kubernetes minor's kube-apiserver and its etcd (and kubectl when the machine
# has none) from the Go wrapper modules under hack/control-plane/, into a cache outside the
# repository, one directory per release so that several versions live side by side:
#   <cache>/kubernetes-v1.37.2/  kube-apiserver (kubelet, kube-controller-manager, kube-scheduler,
#                                kubectl) and etcd, a link to ../etcd-v3.7.3/etcd
#   <cache>/etcd-v3.7.3/etcd
# Skips a binary that is already there. Prints the Kubernetes release's directory on its last line.
#
#   hack/build-control-plane.sh [MINOR]   MINOR: a minor of hack/k8s-versions (default: the one
#                                         the dev directory runs, see k8s_wanted_minor in lib.sh)
#
# With DBUSER_NODE_BINARIES=1 it also builds what the single-node dev cluster adds
# (hack/cluster-up.sh): kubelet, kube-controller-manager and kube-scheduler, from the same module.
#
#   DBUSER_BIN_DIR   the cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/dbuser-operator/bin)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh" # k8s_select, go_mod_version, build_go_binary
cache=${DBUSER_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dbuser-operator/bin}
mkdir -p "$cache"

k8s_select "${1:-$(k8s_wanted_minor)}"
k8s_module=$here/control-plane/kubernetes-$k8s_minor
etcd_module=$here/control-plane/etcd-$etcd_minor
for pin in "$k8s_module k8s.io/kubernetes $k8s_version" \
  "$etcd_module go.etcd.io/etcd/server/v3 $etcd_version"; do
  read -r dir module version <<< "$pin"
  got=$(go_mod_version "$dir" "$module" 2>/dev/null || true)
  [ "$got" = "$version" ] || die "hack/k8s-versions pins $module $version but" \
    "${dir#"$repo_root"/}/go.mod has '${got:-nothing}': run hack/pin-control-plane.sh"
done
bin_dir=$cache/kubernetes-$k8s_version
etcd_dir=$cache/etcd-$etcd_version
mkdir -p "$bin_dir" "$etcd_dir"


# adopt NAME VERSION DIR: a binary of that version that an older layout of this script left at
# the top of the cache is hard-linked into DIR instead of being built again.
adopt() {
  local name=$1 version=$2 dir=$3
  [ -x "$dir/$name" ] && return
  [ -x "$cache/$name" ] && [ "$(cat "$cache/.$name.version" 2>/dev/null)" = "$version" ] || return 0
  ln -f "$cache/$name" "$dir/$name" 2>/dev/null || cp -p "$cache/$name" "$dir/$name"
  echo "$version" > "$dir/.$name.version"
}

k8s_ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${k8s_minor#1.} \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version \
 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=${k8s_minor#1.}"

build_k8s() { # name
  adopt "$1" "$k8s_version" "$bin_dir"
  build_go_binary "$bin_dir" "$1" "$k8s_version" "$k8s_module" "k8s.io/kubernetes/cmd/$1" \
    "$k8s_ldflags"
}

# have NAME VERSION DIR: DIR holds NAME built at VERSION.
have() { [ -x "$3/$1" ] && [ "$(cat "$3/.$1.version" 2>/dev/null)" = "$2" ]; }
wanted=(kube-apiserver)
command -v kubectl >/dev/null 2>&1 || wanted+=(kubectl)
[ "${DBUSER_NODE_BINARIES:-0}" = 1 ] && wanted+=(kube-controller-manager kube-scheduler kubelet)
all_built() {
  have etcd "$etcd_version" "$etcd_dir" && [ -L "$bin_dir/etcd" ] || return 1
  local name
  for name in "${wanted[@]}"; do have "$name" "$k8s_version" "$bin_dir" || return 1; done
}
# Everything there (the usual case): no lock, so that a build of other binaries of this release
# (the node's, say) does not hold up a caller that needs none of them.
if all_built; then
  echo "$bin_dir"
  exit 0
fi

# One build at a time per release directory (clones, worktrees and the version matrix share the
# cache): the others wait, then find the binaries built; another release builds meanwhile.
exec 8> "$etcd_dir/.lock"
flock 8
adopt etcd "$etcd_version" "$etcd_dir"
build_go_binary "$etcd_dir" etcd "$etcd_version" "$etcd_module" go.etcd.io/etcd/server/v3 ""
exec 8>&-
exec 9> "$bin_dir/.lock"
flock 9
ln -sfn "../etcd-$etcd_version/etcd" "$bin_dir/etcd"
build_k8s kube-apiserver
if ! command -v kubectl >/dev/null 2>&1; then
  adopt kubectl "$k8s_version" "$bin_dir"
  build_go_binary "$bin_dir" kubectl "$k8s_version" "$k8s_module" k8s.io/kubernetes/cmd/kubectl \
    "$k8s_ldflags"
fi
if [ "${DBUSER_NODE_BINARIES:-0}" = 1 ]; then
  for name in kube-controller-manager kube-scheduler kubelet; do build_k8s "$name"; done
fi
echo "$bin_dir"
