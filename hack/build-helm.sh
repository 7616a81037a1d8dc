#!/usr/bin/env bash
# Builds the pinned Helm from the Go wrapper module hack/helm/ (helm.sh/helm/v4, no prebuilt
# binary) into the same cache as the control plane, with a version stamp; skips the build when
# that version is there. Prints the binary's path on its last line. Used by the chart tests
# (test/chart) and by `make helm`.
#
#   DBUSER_BIN_DIR   where it goes (default ${XDG_CACHE_HOME:-$HOME/.cache}/dbuser-operator/bin)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh" # go_mod_version, build_go_binary
bin_dir=${DBUSER_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dbuser-operator/bin}

version=$(go_mod_version "$here/helm" helm.sh/helm/v4)
[ -n "$version" ] || die "no helm.sh/helm/v4 version in hack/helm/go.mod"
# Concurrent callers (ctest runs tests in parallel) build once: the first holds the lock.
mkdir -p "$bin_dir"
exec 9>"$bin_dir/.helm.lock"
flock 9
build_go_binary "$bin_dir" helm "$version" "$here/helm" helm.sh/helm/v4/cmd/helm \
  "-X helm.sh/helm/v4/internal/version.version=$version -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
echo "$bin_dir/helm"
