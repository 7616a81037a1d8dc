# Shared helpers for the dev scripts (sourced, not run).
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dev_dir=${DBUSER_DEV_DIR:-$repo_root/.dev}

log() { echo "[$(basename "$0")] $*" >&2; }
die() { log "error: $*"; exit 1; }

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
