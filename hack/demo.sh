#!/usr/bin/env bash
# The README's first command (after `make build dev-up`): start the operator against the dev
# environment, apply the original quick start (host and port pointed at the local PostgreSQL),
# wait for Ready, and log in with the generated Secret. Leaves everything running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# shellcheck disable=SC1091
source "$dev_dir/env"
bin=${DBUSER_OPERATOR_BIN:-$repo_root/build/bin/dbuser-operator}

if ! pid_alive "$dev_dir/operator.pid"; then
  log "starting the operator (log: $dev_dir/operator.log)"
  daemon "$dev_dir/operator.log" "$bin" --kubeconfig "$KUBECONFIG" --listen 127.0.0.1:0 \
    --resync-period 30s > "$dev_dir/operator.pid"
fi

log "applying deploy/samples/quickstart.yaml (host: 127.0.0.1, port: $PGPORT)"
sed -e "s/host: postgres.default.svc.cluster.local/host: 127.0.0.1/" -e "s/port: 5432/port: $PGPORT/" \
  "$repo_root/deploy/samples/quickstart.yaml" | kubectl apply -n default -f -
kubectl wait -n default --for=condition=Ready pguser/app-user --timeout=60s
echo
kubectl get pguser -n default
echo
kubectl get secret -n default myapp-db-credentials
echo
log "logging in as myapp with the Secret's credentials:"
user=$(kubectl get secret -n default myapp-db-credentials -o jsonpath='{.data.username}' | base64 -d)
PGPASSWORD=$(kubectl get secret -n default myapp-db-credentials -o jsonpath='{.data.password}' | base64 -d) \
  psql -h 127.0.0.1 -p "$PGPORT" -U "$user" -d myapp_db \
  -c "select current_user, current_database(), ssl from pg_stat_ssl where pid = pg_backend_pid()"
cat <<MSG

The operator is running (pid $(cat "$dev_dir/operator.pid"), log $dev_dir/operator.log).
Try:  . $dev_dir/env; kubectl describe pguser app-user; kubectl delete pguser app-user
Stop everything with: make dev-down
MSG
