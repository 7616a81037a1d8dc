#!/usr/bin/env bash
# The Kubernetes version matrix (issue 30): per Kubernetes minor pinned in hack/k8s-versions, a dev
# environment of its own — etcd and kube-apiserver of that release on free ports, PostgreSQL 15 and
# MariaDB, the CRDs, the admin Secrets: what hack/dev-up.sh makes, in the environment directory
# $dev_dir/k8s-<minor> — and the cases that depend on the API server (ctest label k8s-matrix, see
# test/CMakeLists.txt) run against it.
#
#   hack/k8s-matrix.sh build MINOR...  build (cached) each minor's kube-apiserver and etcd
#   hack/k8s-matrix.sh up MINOR        start MINOR's environment; prints its directory, which
#                                      tests select with DBUSER_DEV_DIR
#   hack/k8s-matrix.sh down MINOR      stop it; its data stays for a quick next start
#   hack/k8s-matrix.sh clean MINOR     stop it and remove its data and its directory
#   hack/k8s-matrix.sh test [MINOR...] for each minor (default: all pinned): up, the k8s-matrix
#                                      cases, down; a summary (`make test-k8s-matrix`)
#
#   BUILD_DIR         the build whose tests `test` runs (default build)
#   TEST_JOBS         tests side by side (default 4, as `make test`)
#   CTEST_ARGS        more ctest arguments for `test`
#   K8S_MATRIX_TESTS  ctest selection (default: -L '^k8s-matrix$')
#
# The environment directory holds the minor it runs (k8s-minor), which hack/dev-up.sh and
# hack/dev-down.sh follow when a test calls them with DBUSER_DEV_DIR set to it (the informer test
# restarts kube-apiserver so). `make dev-down` and `make dev-clean` stop and remove these too.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
self=$repo_root/hack/k8s-matrix.sh

env_dir_of() { echo "$dev_dir/k8s-$1"; }

up() {
  local minor=$1 env_dir
  k8s_select "$minor"
  env_dir=$(env_dir_of "$minor")
  mkdir -p "$env_dir"
  echo "$minor" > "$env_dir/k8s-minor"
  DBUSER_DEV_DIR=$env_dir DBUSER_K8S_VERSION="" "$repo_root/hack/dev-up.sh" >&2
  echo "$env_dir"
}

down() {
  local env_dir
  env_dir=$(env_dir_of "$1")
  [ -d "$env_dir" ] || return 0
  DBUSER_DEV_DIR=$env_dir DBUSER_K8S_VERSION="" "$repo_root/hack/dev-down.sh" "${@:2}" >&2
}

row() { printf '%-7s %-10s %-9s %-26s %7s %7s %8s\n' "$@"; }

test_matrix() {
  local minors=("$@")
  [ ${#minors[@]} -gt 0 ] || read -r -a minors <<< "$(k8s_minors)"
  local m
  for m in "${minors[@]}"; do k8s_select "$m"; done
  local build=${BUILD_DIR:-build}
  case "$build" in /*) ;; *) build=$repo_root/$build ;; esac
  [ -f "$build/CTestTestfile.cmake" ] || die "no build in $build: run 'make build' first"
  local out=$build/k8s-matrix
  mkdir -p "$out"
  local summary=$out/summary.txt
  local -a sel extra=()
  read -r -a sel <<< "${K8S_MATRIX_TESTS:--L ^k8s-matrix\$}"
  read -r -a extra <<< "${CTEST_ARGS:-}"

  local all_passed=0 all_failed=0 status=0
  {
    echo "# Kubernetes version matrix, $(date -u +%FT%TZ)," \
      "$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "# cases: ctest ${sel[*]}"
    row minor release etcd suite passed failed seconds
  } > "$summary"

  for m in "${minors[@]}"; do
    local start=$SECONDS env_dir log p f s
    k8s_select "$m"
    echo "=== Kubernetes $m ($k8s_version, etcd $etcd_version) ==="
    if ! env_dir=$("$self" up "$m"); then
      row "$m" "$k8s_version" "$etcd_version" "environment start" 0 1 0 >> "$summary"
      all_failed=$((all_failed + 1)) status=1
      continue
    fi
    local up_secs=$((SECONDS - start))
    log=$out/k8s-$m.log
    (cd "$build" && DBUSER_DEV_DIR=$env_dir DBUSER_K8S_VERSION="" \
      ctest --output-on-failure --timeout 900 -j "${TEST_JOBS:-4}" -FA dev_env "${sel[@]}" \
      "${extra[@]}") 2>&1 | tee "$log" || true
    read -r p f s <<< "$(suite_counts "$log" "k8s-matrix: Kubernetes $m")"
    [ "$f" -eq 0 ] || status=1
    all_passed=$((all_passed + p)) all_failed=$((all_failed + f))
    row "$m" "$k8s_version" "$etcd_version" "k8s-matrix cases" "$p" "$f" "$s" >> "$summary"
    failed_tests "$log" "#   $m FAILED:" >> "$summary"
    "$self" down "$m" || { echo "k8s-matrix: could not stop Kubernetes $m" >&2; status=1; }
    echo "=== Kubernetes $m: $p passed, $f failed; $((SECONDS - start)) s with its start" \
      "($up_secs s) and stop ==="
    row "$m" "$k8s_version" "$etcd_version" "total (with start, stop)" - - $((SECONDS - start)) \
      >> "$summary"
  done

  matrix_report "Kubernetes version matrix (${minors[*]})" "$summary" k8s-matrix "$all_passed" \
    "$all_failed"
  return $status
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  build)
    [ $# -gt 0 ] || die "build takes MINOR..."
    for m in "$@"; do "$repo_root/hack/build-control-plane.sh" "$m"; done ;;
  up) [ $# -eq 1 ] || die "up takes one MINOR"; up "$1" ;;
  down) [ $# -eq 1 ] || die "down takes one MINOR"; k8s_select "$1"; down "$1" ;;
  clean)
    [ $# -eq 1 ] || die "clean takes one MINOR"
    k8s_select "$1"; down "$1" --clean ;;
  test) test_matrix "$@" ;;
  *) die "usage: hack/k8s-matrix.sh build|up|down|clean|test [MINOR...] (pinned: $(k8s_minors))" ;;
esac
