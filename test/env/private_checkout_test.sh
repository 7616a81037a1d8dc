#!/usr/bin/env bash
# The dev scripts work from a checkout nobody else may enter: a copy of hack/ and deploy/ in a
# fresh 0700 directory (what `git clone` into a Debian home directory gives), run as this user.
# Its dev environment comes up (kube-apiserver, PostgreSQL over TLS, MariaDB), and
# `dev-down --clean` leaves no process, no .dev and no database directory behind.
set -euo pipefail
unset DBUSER_DEV_DIR DBUSER_DB_ROOT KUBECONFIG PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE
src=$(cd "$(dirname "$0")/../.." && pwd)

fail() { echo "FAIL: $*" >&2; exit 1; }

top=$(mktemp -d)              # mode 0700
clone=$top/home/clone
mkdir -p "$clone"
chmod 700 "$top/home"
cleanup() {
  "$clone/hack/dev-down.sh" --clean >/dev/null 2>&1 || true
  rm -rf "$top"
}
trap cleanup EXIT
cp -a "$src/hack" "$src/deploy" "$clone/"

# The premise: the database servers' users cannot enter the checkout.
if [ "$(id -u)" -eq 0 ]; then
  ! runuser -u postgres -- test -x "$clone" || fail "postgres can enter $clone: the test proves nothing"
fi

"$clone/hack/dev-up.sh" > "$top/dev-up.log" 2>&1 || { cat "$top/dev-up.log" >&2; fail "dev-up failed"; }

# shellcheck disable=SC1091
. "$clone/.dev/env"
db_root=$(cat "$clone/.dev/db-root")
case "$DBUSER_PG_DATA" in "$top"/*) fail "PostgreSQL's data is inside the 0700 checkout" ;; esac
[ "$(psql "sslmode=require" -Atqc 'select ssl from pg_stat_ssl where pid = pg_backend_pid()')" = t ] ||
  fail "no TLS login to PostgreSQL"
[ "$(mariadb --no-defaults -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u "$MYSQL_USER" -p"$MYSQL_PASSWORD" \
  -Nse 'select 1')" = 1 ] || fail "no login to MariaDB over TCP"
kubectl get crd postgresusers.database.example.com >/dev/null || fail "CRD not served"

# Idempotent: a second run leaves the servers alone.
pg_pid=$(head -n 1 "$DBUSER_PG_DATA/postmaster.pid")
"$clone/hack/dev-up.sh" > "$top/dev-up2.log" 2>&1 || { cat "$top/dev-up2.log" >&2; fail "second dev-up failed"; }
[ "$(head -n 1 "$DBUSER_PG_DATA/postmaster.pid")" = "$pg_pid" ] || fail "second dev-up restarted PostgreSQL"

"$clone/hack/dev-down.sh" --clean > "$top/dev-down.log" 2>&1 || { cat "$top/dev-down.log" >&2; fail "dev-down --clean failed"; }
[ ! -e "$clone/.dev" ] || fail ".dev left behind"
[ ! -e "$db_root" ] || fail "$db_root left behind"
if pgrep -af -- "$clone/.dev|$db_root" >&2; then fail "processes left behind"; fi
echo "ok: dev environment from a 0700 checkout up, used and cleaned ($db_root)"
