#!/usr/bin/env bash
# make lint: clang-format (check) and clang-tidy over the project's sources.
#   hack/lint.sh BUILD_DIR   check; BUILD_DIR holds compile_commands.json
#   hack/lint.sh --fix       reformat in place
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v clang-format >/dev/null || need+=(clang-format)
command -v clang-tidy >/dev/null || need+=(clang-tidy)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
build_dir=${1:-build}
status=0
clang-format --dry-run "${files[@]}" || status=1
mapfile -t sources < <(git ls-files '*.cpp')
clang-tidy -p "$build_dir" --quiet "${sources[@]}" || status=1
exit $status
