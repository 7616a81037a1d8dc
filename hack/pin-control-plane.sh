#!/usr/bin/env bash
# Writes the Go wrapper modules of hack/control-plane/ from hack/k8s-versions: for each Kubernetes
# minor, kubernetes-<minor>/ (requires k8s.io/kubernetes at the pinned release and replaces each of
# its staging modules by the published v0.<minor>.<patch>, as k8s.io/kubernetes itself refers to
# them by path), and for each etcd release, etcd-<etcd minor>/ (requires go.etcd.io/etcd/server/v3).
# A module whose go.mod already pins its version is left alone. Needs the Go module proxy; run it
# after editing hack/k8s-versions, then commit the modules (go.mod, go.sum, tools.go).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cp_dir=$repo_root/hack/control-plane

write_kubernetes() { # minor version
  local minor=$1 version=$2 dir=$cp_dir/kubernetes-$1
  [ "$(go_mod_version "$dir" k8s.io/kubernetes 2>/dev/null)" = "$version" ] && return
  log "pinning k8s.io/kubernetes $version in $dir"
  local src
  src=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$version" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  local go_line
  go_line=$(awk '$1 == "go" { print $2; exit }' "$src/go.mod")
  mkdir -p "$dir"
  {
    cat <<HEAD
// Wrapper module (written by hack/pin-control-plane.sh from hack/k8s-versions): pins the
// Kubernetes $minor components that the dev environment runs — kube-apiserver; kubelet,
// kube-controller-manager and kube-scheduler of the dev cluster; kubectl when the machine has
// none. k8s.io/kubernetes refers to its staging modules by path, so each is replaced by its
// published version. Built by hack/build-control-plane.sh.
module dbuser-operator/hack/control-plane/kubernetes-$minor

go $go_line

require (
	k8s.io/kubectl v0.0.0
	k8s.io/kubernetes $version
)

replace (
HEAD
    awk -v v="v0.${version#v1.}" '$2 == "=>" && $3 ~ /^\.\/staging\// { print "\t" $1 " => " $1 " " v }' \
      "$src/go.mod"
    echo ")"
  } > "$dir/go.mod"
  cat > "$dir/tools.go" <<'TOOLS'
//go:build tools

// Package tools records the packages this module builds, so `go mod tidy` keeps them.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
	_ "k8s.io/kubectl/pkg/cmd"
)
TOOLS
  rm -f "$dir/go.sum"
  (cd "$dir" && GOFLAGS=-mod=mod go mod tidy)
}

write_etcd() { # version
  local version=$1 minor dir
  minor=$(echo "$version" | sed 's/^v\([0-9]*\.[0-9]*\).*/\1/')
  dir=$cp_dir/etcd-$minor
  [ "$(go_mod_version "$dir" go.etcd.io/etcd/server/v3 2>/dev/null)" = "$version" ] && return
  log "pinning etcd $version in $dir"
  mkdir -p "$dir"
  cat > "$dir/go.mod" <<MOD
// Wrapper module (written by hack/pin-control-plane.sh from hack/k8s-versions): pins an etcd that
// the dev environment runs. The etcd binary is the main package at the root of
// go.etcd.io/etcd/server/v3. Built by hack/build-control-plane.sh.
module dbuser-operator/hack/control-plane/etcd-$minor

go 1.26.0

require go.etcd.io/etcd/server/v3 $version
MOD
  printf '%s\n' '//go:build tools' '' \
    '// Package tools records the packages this module builds, so `go mod tidy` keeps them.' \
    'package tools' '' 'import _ "go.etcd.io/etcd/server/v3/etcdmain"' > "$dir/tools.go"
  rm -f "$dir/go.sum"
  (cd "$dir" && GOFLAGS=-mod=mod go mod tidy)
}

while read -r minor version etcd; do
  write_kubernetes "$minor" "$version"
  write_etcd "$etcd"
done < <(k8s_pins)
log "modules in $cp_dir agree with hack/k8s-versions"
