# Shared helpers for the dev scripts (sourced, not run).
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dev_dir=$(realpath -m "${DBUSER_DEV_DIR:-$repo_root/.dev}")

log() { echo "[$(basename "$0")] $*" >&2; }
die() { log "error: $*"; exit 1; }

# --- who runs the database servers, and where their files live ----------------------------------
# PostgreSQL refuses to run as root and MariaDB should not: as root the servers run as the
# `postgres` and `mysql` OS users; as anyone else they run as that user (no sudo needed for them).
# Their files cannot live in the checkout: a clone in a 0700 home directory (Debian's default) is
# not traversable by `postgres` or `mysql`, and a deep path overflows a Unix socket's 107 bytes.
# They live in db_root, a directory keyed to the dev directory: /var/tmp/dbuser-operator-<hash>
# (DBUSER_DB_ROOT overrides). `make dev-clean` removes it with .dev.
if [ "$(id -u)" -eq 0 ]; then
  pg_os_user=postgres
  my_os_user=mysql
else
  pg_os_user=$(id -un)
  my_os_user=$pg_os_user
fi
db_root=${DBUSER_DB_ROOT:-/var/tmp/dbuser-operator-$(printf '%s' "$dev_dir" | sha256sum | cut -c1-12)}
pg_root=$db_root/pg
my_root=$db_root/mysql

# as_user USER COMMAND...: runs COMMAND as USER from / (the caller's working directory may be a
# directory USER cannot enter); as the current user when it is USER already.
as_user() {
  local user=$1; shift
  if [ "$user" = "$(id -un)" ]; then (cd / && "$@"); else (cd / && runuser -u "$user" -- "$@"); fi
}
as_pg() { as_user "$pg_os_user" "$@"; }

# require_writable_dev_dir: stop at once, with the way out, when the dev directory cannot be made.
require_writable_dev_dir() {
  mkdir -p "$dev_dir" 2>/dev/null && [ -w "$dev_dir" ] ||
    die "cannot write $dev_dir (read-only checkout?): point DBUSER_DEV_DIR at a writable directory"
}

# prepare_db_root: makes db_root (0755: the server users traverse it) and checks that the server
# users can reach it. A db_root left by an earlier .dev that no longer exists is stale (its
# servers' certificates came from that .dev): it is removed first.
prepare_db_root() {
  if [ ! -e "$dev_dir/db-root" ] && [ -d "$db_root" ]; then
    log "removing $db_root, left by an earlier $dev_dir"
    stop_db_servers
    rm -rf "$db_root"
  fi
  if [ -e "$db_root" ] && [ "$(stat -c %u "$db_root")" != "$(id -u)" ]; then
    die "$db_root belongs to another user: remove it, or set DBUSER_DB_ROOT to another directory"
  fi
  mkdir -p "$db_root" 2>/dev/null ||
    die "cannot create $db_root: set DBUSER_DB_ROOT to a directory you can write"
  chmod 755 "$db_root"
  printf '%s\n' "$db_root" > "$dev_dir/db-root"
  local u
  for u in "$pg_os_user" "$my_os_user"; do
    id "$u" >/dev/null 2>&1 || die "OS user $u does not exist: run hack/install-deps.sh"
    as_user "$u" test -x "$db_root" ||
      die "$u cannot enter $db_root: set DBUSER_DB_ROOT to a directory $u can reach"
  done
}

# stop_db_servers: PostgreSQL and MariaDB of this dev environment, if they run.
stop_db_servers() {
  stop_pid "$my_root/mariadbd.pid" 30
  if [ -s "$pg_root/data/postmaster.pid" ]; then
    as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "$pg_root/data" -m fast -w stop >/dev/null 2>&1 ||
      true
  fi
}

# pid_alive FILE: the process recorded in FILE is running (a zombie that nobody reaped yet is
# not: pid 1 on these machines can be slow to reap orphans).
pid_alive() {
  [ -s "$1" ] || return 1
  local pid state
  pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
  [ -n "$state" ] && [ "$state" != Z ]
}

# daemon LOGFILE COMMAND...: starts COMMAND in its own session (so it outlives the caller's
# process group: a test runner or a job runner that kills its group leaves it alone), in the
# background; prints its pid.
daemon() {
  local logfile=$1; shift
  setsid "$@" > "$logfile" 2>&1 < /dev/null &
  echo $!
}

# free_port: a TCP port on 127.0.0.1 that nobody listens on now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# stop_pid FILE [TIMEOUT]: TERM the recorded process, KILL it after TIMEOUT seconds.
stop_pid() {
  local f=$1 t=${2:-10} pid
  pid_alive "$f" || { rm -f "$f"; return 0; }
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((t * 10))); do pid_alive "$f" || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}

# wait_for DESCRIPTION TIMEOUT COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local what=$1 t=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "timed out after ${t}s waiting for $what"
    sleep 0.2
  done
}

# scram_verifier: reads a password on stdin, prints its SCRAM-SHA-256 verifier (RFC 7677, as
# PostgreSQL stores it), so that scripts never send a plaintext password in SQL either.
scram_verifier() {
  python3 -c '
import base64, hashlib, hmac, os, sys
pw = sys.stdin.read().encode()
salt, it = os.urandom(16), 4096
salted = hashlib.pbkdf2_hmac("sha256", pw, salt, it)
client = hmac.new(salted, b"Client Key", "sha256").digest()
server = hmac.new(salted, b"Server Key", "sha256").digest()
b = lambda x: base64.b64encode(x).decode()
print(f"SCRAM-SHA-256${it}:{b(salt)}${b(hashlib.sha256(client).digest())}:{b(server)}")'
}

# ensure_lp_admin PORT SUPERUSER_PASSWORD_FILE LP_PASSWORD_FILE: the least-privilege admin that
# managed PostgreSQL gives its users (dbuser_admin: LOGIN CREATEROLE CREATEDB, no superuser), with
# the password in LP_PASSWORD_FILE (generated the first time).
lp_admin_user=dbuser_admin
ensure_lp_admin() {
  local port=$1 su_file=$2 lp_file=$3
  [ -s "$lp_file" ] ||
    (umask 077; openssl rand -base64 48 | tr -dc 'A-Za-z0-9' | head -c 32 > "$lp_file")
  local verifier
  verifier=$(scram_verifier < "$lp_file")
  PGPASSWORD=$(cat "$su_file") psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atq \
    -v ON_ERROR_STOP=1 -v role="$lp_admin_user" -v verifier="$verifier" >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I', :'role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" LOGIN CREATEROLE CREATEDB NOSUPERUSER PASSWORD :'verifier';
SQL
}
