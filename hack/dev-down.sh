#!/usr/bin/env bash
# Stops every process the dev environment started (operators, kube-apiserver, etcd, PostgreSQL,
# MariaDB; the Kubernetes version matrix's environments in it). Keeps the data so the next
# `make dev-up` is quick.
#
#   hack/dev-down.sh               stop everything
#   hack/dev-down.sh --clean       stop everything, then remove the dev directory and the
#                                  database servers' directory (`make dev-clean`)
#   hack/dev-down.sh --only postgres   stop PostgreSQL only (tests that take it away)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mode=all
case "${1:-}" in
  "") ;;
  --clean) mode=clean ;;
  --only) [ "${2:-}" = postgres ] || die "--only takes: postgres"; mode=postgres ;;
  *) die "unknown argument $1 (use --clean or --only postgres)" ;;
esac

# A version-matrix environment (hack/pg-matrix.sh, DBUSER_DEV_DIR=.dev/pg<major>): its server only
# (--clean also removes its data and the environment directory).
if [ "$mode" = clean ]; then pg_matrix_delegate clean; else pg_matrix_delegate down; fi

if [ "$mode" = postgres ]; then
  pg_server_stop /usr/lib/postgresql/15/bin "" "$pg_root/data"
  exit 0
fi

if [ -d "$dev_dir" ]; then
  # The Kubernetes version matrix's environments (hack/k8s-matrix.sh) inside this one.
  for d in "$dev_dir"/k8s-[0-9]*/; do
    [ -f "$d/k8s-minor" ] || continue
    DBUSER_DEV_DIR=${d%/} "$0" ${1:+"$1"}
  done
  # The single-node cluster of hack/cluster-up.sh, when one was started: its node first.
  if [ -d "$dev_dir/cluster" ]; then "$repo_root/hack/cluster-down.sh" --node-only; fi
  for f in "$dev_dir"/operator*.pid; do [ -e "$f" ] && stop_pid "$f" 10; done
  stop_pid "$dev_dir/kube-apiserver.pid" 20
  stop_pid "$dev_dir/etcd.pid" 20
fi
stop_db_servers
log "stopped"

if [ "$mode" = clean ]; then
  rm -rf "$dev_dir" "$db_root"
  log "removed $dev_dir and $db_root"
fi
