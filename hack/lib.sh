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

# stop_db_servers: PostgreSQL (Debian's 15 and the version matrix's, hack/pg-matrix.sh) and
# MariaDB of this dev environment, if they run.
stop_db_servers() {
  stop_pid "$my_root/mariadbd.pid" 30
  pg_server_stop /usr/lib/postgresql/15/bin "" "$pg_root/data" || true
  local d
  for d in "$db_root"/pg[0-9]*; do
    [ -d "$d/install/bin" ] || continue
    pg_server_stop "$d/install/bin" "$d/install/lib" "$d/data" || true
  done
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

# supervise LOGFILE COMMAND...: like daemon, but COMMAND is started again a second after it exits,
# as a kubelet restarts a control-plane static Pod. kube-controller-manager exits for good when its
# API server goes away at the wrong moment (F client_builder_dynamic.go: a service account token
# request refused), and tests restart the shared dev API server. Prints the supervisor's pid: a
# TERM to it stops COMMAND and then the supervisor (stop_pid works as for daemon).
supervise() {
  local logfile=$1; shift
  # shellcheck disable=SC2016
  setsid bash -c '
    child=0
    trap '\''[ "$child" -gt 0 ] && kill -TERM "$child" 2>/dev/null; wait "$child"; exit 0'\'' TERM INT
    while :; do
      "$@" & child=$!
      wait "$child"; rc=$?
      echo "[supervise] $1 exited with status $rc; starting it again in 1 s"
      sleep 1 & wait $!
    done' supervise "$@" > "$logfile" 2>&1 < /dev/null &
  echo $!
}

# ctest_counts LOG: "passed failed seconds" from a ctest log ("0 0 0" when it ran no test); the
# version matrices (hack/pg-matrix.sh, hack/k8s-matrix.sh) report with it.
ctest_counts() {
  local total failed secs
  total=$(sed -n 's/.* tests failed out of \([0-9]*\)$/\1/p' "$1" | tail -n 1)
  failed=$(sed -n 's/.* \([0-9]*\) tests failed out of [0-9]*$/\1/p' "$1" | tail -n 1)
  secs=$(sed -n 's/^Total Test time (real) = *\([0-9.]*\) sec$/\1/p' "$1" | tail -n 1)
  total=${total:-0} failed=${failed:-0}
  echo "$((total - failed)) $failed ${secs:-0}"
}

# suite_counts LOG WHAT: ctest_counts of one suite of a version matrix, where a suite that ran no
# test counts as one failure ("WHAT ran no test" on stderr).
suite_counts() {
  local p f s
  read -r p f s <<< "$(ctest_counts "$1")"
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    echo "$2 ran no test" >&2
    f=1
  fi
  echo "$p $f $s"
}

# failed_tests LOG PREFIX: the tests a ctest LOG lists as failed, a line each, after PREFIX.
failed_tests() {
  awk -v p="$2" '/^The following tests FAILED:/ { on = 1; next }
    on && /^[ \t]+[0-9]+ - / { sub(/^[ \t]+/, ""); print p, $0 }' "$1"
}

# matrix_report TITLE SUMMARY NAME PASSED FAILED: a version matrix's closing lines, its summary
# table (the file SUMMARY) and totals.
matrix_report() {
  echo "=== $1: $2 ==="
  cat "$2"
  echo "$3: $4 passed, $5 failed"
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
  # The verifier goes in on stdin (a \set line), never on psql's command line, where ps shows it.
  { printf "\\set verifier '%s'\n" "$(scram_verifier < "$lp_file")"
    cat <<'SQL'
SELECT format('CREATE ROLE %I', :'role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" LOGIN CREATEROLE CREATEDB NOSUPERUSER PASSWORD :'verifier';
SQL
  } | PGPASSWORD=$(cat "$su_file") psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atq \
    -v ON_ERROR_STOP=1 -v role="$lp_admin_user" >/dev/null
}

# --- one PostgreSQL server -----------------------------------------------------------------------
# The same initdb, configuration and start for Debian's PostgreSQL 15 (hack/dev-up.sh) and the
# version matrix's servers (hack/pg-matrix.sh). BIN is the server's bin directory; LIB, when not
# empty, is the LD_LIBRARY_PATH its binaries need (the npm packages' native/lib).

# pg_tool BIN LIB TOOL ARGS...: runs BIN/TOOL as the server user.
pg_tool() {
  local bin=$1 lib=$2 tool=$3; shift 3
  if [ -n "$lib" ]; then
    as_pg env LD_LIBRARY_PATH="$lib" "$bin/$tool" "$@"
  else
    as_pg "$bin/$tool" "$@"
  fi
}

# pg_server_up BIN LIB ROOT PORT: PostgreSQL with its files under ROOT (data/, run/,
# postgresql.log, admin-username, admin-password, lp-admin-password) listening on 127.0.0.1:PORT
# with TLS (the dev PKI's postgres certificate) and scram-sha-256; initialised the first time
# (superuser postgres with a generated password), started when it is down, and the least-privilege
# admin ensured. Idempotent.
pg_server_up() {
  local bin=$1 lib=$2 root=$3 port=$4
  local data=$root/data pki=$dev_dir/pki
  if [ ! -s "$root/admin-password" ]; then
    log "initialising PostgreSQL in $data"
    rm -rf "$data" "$root/run" "$root/pwfile" "$root/postgresql.log"
    mkdir -p "$root/run"
    (umask 077
     openssl rand -base64 48 | tr -dc 'A-Za-z0-9' | head -c 32 > "$root/admin-password.new")
    printf postgres > "$root/admin-username"
    install -m 600 -o "$pg_os_user" "$root/admin-password.new" "$root/pwfile"
    chown "$pg_os_user" "$root" "$root/run"
    pg_tool "$bin" "$lib" initdb -D "$data" -U postgres --pwfile="$root/pwfile" \
      --auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$root/pwfile"
    install -m 600 -o "$pg_os_user" "$pki/postgres.key" "$data/server.key"
    install -m 644 -o "$pg_os_user" "$pki/postgres.crt" "$data/server.crt"
    cat > "$data/pg_hba.conf" <<HBA
local all all                peer
host  all all 127.0.0.1/32   scram-sha-256
host  all all ::1/128        scram-sha-256
HBA
    cat >> "$data/postgresql.conf" <<CONF
# dbuser-operator dev environment
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$root/run'
password_encryption = 'scram-sha-256'
ssl = on
max_connections = 300
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_line_prefix = '%m [%p] %q%u@%d '
CONF
    install -m 644 -o "$pg_os_user" /dev/null "$root/postgresql.log"
    # Only now is the server complete: an interrupted initialisation starts over next time.
    mv "$root/admin-password.new" "$root/admin-password"
  fi
  if ! pg_tool "$bin" "$lib" pg_ctl -D "$data" status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$port"
    # pg_ctl starts the server detached in its own session already.
    pg_tool "$bin" "$lib" pg_ctl -D "$data" -l "$root/postgresql.log" -w -t 60 start >/dev/null
  fi
  # The password through the environment of a function, not `env NAME=…` (argv, seen by ps).
  pg_ping() {
    PGPASSWORD=$(cat "$root/admin-password") \
      psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc 'select 1'
  }
  wait_for "PostgreSQL" 60 pg_ping
  ensure_lp_admin "$port" "$root/admin-password" "$root/lp-admin-password"
}

# pg_server_stop BIN LIB DATA: a fast shutdown of the server of DATA, if it runs.
pg_server_stop() {
  local bin=$1 lib=$2 data=$3
  [ -s "$data/postmaster.pid" ] || return 0
  pg_tool "$bin" "$lib" pg_ctl -D "$data" -m fast -w stop >/dev/null
}

# pg_matrix_delegate ACTION: when the dev directory is a version-matrix environment (the marker
# that hack/pg-matrix.sh writes), runs `hack/pg-matrix.sh ACTION MAJOR` for its main dev directory
# instead of the caller (dev-up.sh: up; dev-down.sh: down), and exits with its status.
pg_matrix_delegate() {
  [ -f "$dev_dir/pg-matrix" ] || return 0
  local major main
  major=$(sed -n 's/^major=//p' "$dev_dir/pg-matrix")
  main=$(sed -n 's/^dev_dir=//p' "$dev_dir/pg-matrix")
  [ -n "$major" ] && [ -n "$main" ] || die "$dev_dir/pg-matrix is not a version-matrix marker"
  DBUSER_DEV_DIR=$main exec "$repo_root/hack/pg-matrix.sh" "$1" "$major"
}

# --- Kubernetes versions (hack/k8s-versions: the one place they are pinned) ---------------------
k8s_versions_file=$repo_root/hack/k8s-versions

# k8s_pins: one line "minor kubernetes-version etcd-version" per pinned minor.
k8s_pins() { awk '$1 !~ /^#/ && $1 != "default" && NF >= 3 { print $1, $2, $3 }' "$k8s_versions_file"; }

# k8s_minors: the pinned minors, oldest first, on one line.
k8s_minors() { k8s_pins | sort -t. -k1,1n -k2,2n | awk '{ printf "%s%s", sep, $1; sep = " " } END { print "" }'; }

# k8s_default_minor: the minor that the dev environment runs unless told otherwise.
k8s_default_minor() { awk '$1 == "default" { print $2; exit }' "$k8s_versions_file"; }

# k8s_wanted_minor: the minor this dev directory runs: the pin of a Kubernetes version-matrix
# environment (hack/k8s-matrix.sh writes $dev_dir/k8s-minor), else DBUSER_K8S_VERSION (a minor,
# 1.35, or a release of it, v1.35.4), else the default.
k8s_wanted_minor() {
  local v
  v=$(cat "$dev_dir/k8s-minor" 2>/dev/null || true)
  [ -n "$v" ] || v=${DBUSER_K8S_VERSION:-}
  [ -n "$v" ] || v=$(k8s_default_minor)
  v=${v#v}
  echo "$v" | cut -d. -f1,2
}

# k8s_select MINOR: sets k8s_minor, k8s_version (v1.x.y), etcd_version (v3.x.y) and etcd_minor
# (3.x) from hack/k8s-versions; dies on a minor that is not pinned there.
k8s_select() {
  local line
  line=$(k8s_pins | awk -v m="$1" '$1 == m { print; exit }')
  [ -n "$line" ] || die "Kubernetes $1 is not pinned in hack/k8s-versions (pinned: $(k8s_minors))"
  read -r k8s_minor k8s_version etcd_version <<< "$line"
  etcd_minor=$(echo "$etcd_version" | sed 's/^v\([0-9]*\.[0-9]*\).*/\1/')
}

# go_mod_version MODULE_DIR MODULE_PATH: the version of MODULE_PATH that MODULE_DIR/go.mod requires.
go_mod_version() {
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1/go.mod"
}

# build_go_binary BIN_DIR NAME VERSION MODULE_DIR PACKAGE LDFLAGS: builds PACKAGE from the wrapper
# module MODULE_DIR into BIN_DIR/NAME and stamps it with VERSION (BIN_DIR/.NAME.version); skips
# the build when that version is already there. For the pinned tools built from Go modules.
build_go_binary() {
  local bin_dir=$1 name=$2 version=$3 dir=$4 pkg=$5 ldflags=$6
  local stamp="$bin_dir/.$name.version" me
  me=$(basename "$0" .sh)
  mkdir -p "$bin_dir"
  if [ -x "$bin_dir/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
    echo "$me: $name $version already built" >&2
    return
  fi
  echo "$me: building $name $version (first time only; several minutes)" >&2
  local start=$SECONDS
  (cd "$dir" && GOFLAGS=-mod=mod CGO_ENABLED=0 \
     go build -trimpath -ldflags "-s -w $ldflags" -o "$bin_dir/$name.tmp" "$pkg")
  mv "$bin_dir/$name.tmp" "$bin_dir/$name"
  echo "$version" > "$stamp"
  echo "$me: $name built in $((SECONDS - start)) s" >&2
}
