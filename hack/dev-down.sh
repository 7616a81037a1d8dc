#!/usr/bin/env bash
# Stops every process the dev environment started (operator, kube-apiserver, etcd, PostgreSQL).
# Keeps the data in .dev/ so the next `make dev-up` is quick; `make dev-clean` removes it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ -d "$dev_dir" ] || exit 0
for f in "$dev_dir"/operator*.pid; do [ -e "$f" ] && stop_pid "$f" 10; done
stop_pid "$dev_dir/kube-apiserver.pid" 20
stop_pid "$dev_dir/etcd.pid" 20
stop_pid "$dev_dir/mysql/mariadbd.pid" 30
if [ -d "$dev_dir/pg/data" ]; then
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$dev_dir/pg/data" -m fast -w \
    stop >/dev/null 2>&1 || true
fi
log "stopped"
