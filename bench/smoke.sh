#!/usr/bin/env bash
# ctest smoke test of the benchmark harness: a small run (N=20 by default, short idle) must print
# one BENCH_JSON line holding every field. No timing is asserted.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export N=${N:-20}
export BENCH_ARGS="${BENCH_ARGS:---idle-seconds 3}"
export BENCH_OUT=${BENCH_OUT:-${BUILD_DIR:-$repo/build}/bench-out}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
"$repo/bench/run.sh" | tee "$log" || status=$?
line=$(grep '^BENCH_JSON ' "$log" | tail -n 1 | cut -d' ' -f2-)
[ -n "$line" ] || { echo "smoke: no BENCH_JSON line" >&2; exit 1; }
fields='n users_per_s seconds_to_all_ready latency_ms.p50 latency_ms.p95 latency_ms.p99
  latency_ms.max rss_idle_mb rss_peak_mb rss_after_idle_mb memory_per_user_kb cpu_seconds_run
  cpu_seconds_total pg_connections_peak kube_requests_per_user metrics_available delete_seconds
  raw_users_per_s ratio_operator_over_raw raw.users_per_s restart.seconds_to_all_verified
  restart.kube_writes restart.pg_login_check_connections_peak restart.cpu_seconds.postgres
  fairness_probe_create_s fairness_probe_delete_s fairness_probe.create.bulk_done_at_send
  fairness_probe.delete.bulk_done_at_send'
missing=""
for f in $fields; do
  jq -e "getpath(\"$f\" | split(\".\")) != null" <<<"$line" >/dev/null || missing="$missing $f"
done
[ -z "$missing" ] || { echo "smoke: BENCH_JSON lacks:$missing" >&2; exit 1; }
jq -e '.all_ready and .all_deleted and .ready == .n and .raw.failed == 0' <<<"$line" >/dev/null \
  || { echo "smoke: not every user became Ready, was deleted, or the raw baseline failed" >&2; exit 1; }
# The probes' times are reported, not judged; each must have become Ready at all.
jq -e '.fairness_probe_create_s >= 0 and .fairness_probe_delete_s >= 0' <<<"$line" >/dev/null \
  || { echo "smoke: a fairness probe (the other namespace's user) did not become Ready" >&2; exit 1; }
jq -e '.restart.verified_all and .restart.kube_writes == 0' <<<"$line" >/dev/null \
  || { echo "smoke: the restarted operator did not reconcile every user, or wrote to Kubernetes" >&2; exit 1; }
[ "$status" -eq 0 ] || { echo "smoke: dbuser-bench exited with $status" >&2; exit 1; }
echo "smoke: BENCH_JSON has every field"
