#!/usr/bin/env bash
# `make bench`: the benchmark against the dev environment (bench/README.md).
#   N=1000               number of PostgresUsers
#   BUILD_DIR=build      where bin/dbuser-operator, bin/dbuser-bench, bin/dbuser-raw-baseline are
#   BENCH_OUT=bench/out  where the JSON result and the operator's log go
#   BENCH_ARGS=...       more flags for dbuser-bench (--concurrency C, --idle-seconds S, ...)
#   DBUSER_DEV_DIR       the dev environment (default .dev)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export DBUSER_DEV_DIR=${DBUSER_DEV_DIR:-$repo/.dev}
dev_dir=$DBUSER_DEV_DIR
build=${BUILD_DIR:-build}
[[ $build = /* ]] || build=$repo/$build
out=${BENCH_OUT:-$repo/bench/out}
[ -f "$dev_dir/env" ] || { echo "bench: $dev_dir/env is missing: run make dev-up" >&2; exit 2; }
# shellcheck disable=SC1091
. "$dev_dir/env"
# Many Secrets, watches and PostgreSQL connections at once.
ulimit -n 65536 2>/dev/null || true
# shellcheck disable=SC2086
exec "$build/bin/dbuser-bench" --n "${N:-1000}" \
  --operator "$build/bin/dbuser-operator" \
  ${BENCH_NO_RAW:+--no-raw} --raw-baseline "$build/bin/dbuser-raw-baseline" \
  --out-dir "$out" ${BENCH_ARGS:-}
