#!/usr/bin/env bash
# Starts the dev environment (design.md §4): etcd + kube-apiserver built from pinned Go modules,
# PostgreSQL 15, the CRDs, the `postgres-admin` Secret, and writes .dev/env. Idempotent: what runs
# is left alone; a component that is down is started again on the ports it had before.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# A version-matrix environment (hack/pg-matrix.sh, DBUSER_DEV_DIR=.dev/pg<major>): its server only.
pg_matrix_delegate up

require_writable_dev_dir
prepare_db_root
k8s_select "$(k8s_wanted_minor)"
bin_dir=$("$repo_root/hack/build-control-plane.sh" "$k8s_minor" | tail -n 1)
export PATH="$bin_dir:$PATH"

# --- the Kubernetes version: a dev directory that ran another one starts its control plane anew --
# (etcd's data too: a newer etcd's data cannot go back to an older one, and objects stored by
# another kube-apiserver need not suit this one; what this script installs comes back below).
k8s_running="$k8s_version $etcd_version"
if [ -d "$dev_dir/etcd/data" ] && [ "$(cat "$dev_dir/k8s-version" 2>/dev/null)" != "$k8s_running" ]; then
  log "switching to Kubernetes $k8s_version with etcd $etcd_version (was:" \
    "$(cat "$dev_dir/k8s-version" 2>/dev/null || echo unrecorded)): the control plane starts anew"
  if [ -d "$dev_dir/cluster" ]; then "$repo_root/hack/cluster-down.sh" --node-only; fi
  for f in "$dev_dir"/operator*.pid; do [ -e "$f" ] && stop_pid "$f" 10; done
  stop_pid "$dev_dir/kube-apiserver.pid" 20
  stop_pid "$dev_dir/etcd.pid" 20
  rm -rf "$dev_dir/etcd/data" "$dev_dir/apiserver/ready-pid"
fi
echo "$k8s_running" > "$dev_dir/k8s-version"

# --- ports: chosen once, kept in .dev/ports so restarts reuse them -------------------------------
if [ ! -s "$dev_dir/ports" ]; then
  {
    echo "etcd_port=$(free_port)"
    echo "etcd_peer_port=$(free_port)"
    echo "apiserver_port=$(free_port)"
    echo "pg_port=$(free_port)"
  } > "$dev_dir/ports"
fi
if ! grep -q '^mysql_port=' "$dev_dir/ports"; then
  echo "mysql_port=$(free_port)" >> "$dev_dir/ports"
fi
# shellcheck disable=SC1091
source "$dev_dir/ports"

# --- certificates --------------------------------------------------------------------------------
pki=$dev_dir/pki
if [ ! -s "$pki/admin.crt" ]; then
  log "making certificates in $pki"
  mkdir -p "$pki"
  (
    cd "$pki"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=dbuser-operator-dev-ca" 2>/dev/null
    sign() { # name subject extensions [key type and options; rsa:2048 when none]
      openssl req -newkey "${4:-rsa:2048}" "${@:5}" -nodes -keyout "$1.key" -out "$1.csr" \
        -subj "$2" 2>/dev/null
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -out "$1.crt" -extfile <(printf '%s\n' "$3") 2>/dev/null
      rm -f "$1.csr"
    }
    sign apiserver "/CN=kube-apiserver" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth"
    sign admin "/O=system:masters/CN=dev-admin" "extendedKeyUsage=clientAuth"
    # PostgreSQL's key is ECDSA P-256, as CloudNativePG issues for its servers: a server signs
    # each TLS handshake (session resumption is off in PostgreSQL): TLS adds ~1.2 ms of server
    # CPU to a connection here against ~2.8 ms with RSA-2048 (bench/README.md).
    sign postgres "/CN=127.0.0.1" "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth" ec -pkeyopt ec_paramgen_curve:prime256v1
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 644 ca.crt apiserver.crt admin.crt postgres.crt sa.pub
  )
fi

# --- etcd ----------------------------------------------------------------------------------------
etcd_url="http://127.0.0.1:$etcd_port"
if ! pid_alive "$dev_dir/etcd.pid"; then
  log "starting etcd on $etcd_url"
  mkdir -p "$dev_dir/etcd"
  daemon "$dev_dir/etcd/etcd.log" etcd --name dev --data-dir "$dev_dir/etcd/data" \
    --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "dev=http://127.0.0.1:$etcd_peer_port" \
    --unsafe-no-fsync=true --log-level=warn > "$dev_dir/etcd.pid"
fi
wait_for "etcd" 60 curl -fsS "$etcd_url/health"

# --- kube-apiserver ------------------------------------------------------------------------------
api_url="https://127.0.0.1:$apiserver_port"
curl_api() { curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$@"; }
if pid_alive "$dev_dir/kube-apiserver.pid" && ! curl_api "$api_url/readyz" >/dev/null 2>&1; then
  # Running but not ready: still starting (never ready yet), or draining after a SIGTERM (it was
  # ready once and never comes back from that): such a process is replaced.
  pid=$(cat "$dev_dir/kube-apiserver.pid")
  if [ "$(cat "$dev_dir/apiserver/ready-pid" 2>/dev/null)" = "$pid" ]; then
    log "kube-apiserver (pid $pid) stopped serving; replacing it"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 100); do pid_alive "$dev_dir/kube-apiserver.pid" || break; sleep 0.1; done
    rm -f "$dev_dir/kube-apiserver.pid"
  fi
fi
if ! pid_alive "$dev_dir/kube-apiserver.pid"; then
  log "starting kube-apiserver on $api_url"
  mkdir -p "$dev_dir/apiserver"
  # controller-runtime envtest's flags, plus --advertise-address (no default route here).
  daemon "$dev_dir/apiserver/kube-apiserver.log" kube-apiserver \
    --etcd-servers="$etcd_url" \
    --cert-dir="$dev_dir/apiserver" \
    --secure-port="$apiserver_port" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
    --authorization-mode=RBAC --client-ca-file="$pki/ca.crt" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --service-account-issuer="$api_url" \
    --service-account-key-file="$pki/sa.pub" \
    --service-account-signing-key-file="$pki/sa.key" \
    --enable-priority-and-fairness=false --endpoint-reconciler-type=none \
    > "$dev_dir/kube-apiserver.pid"
fi
wait_for "kube-apiserver /readyz" 120 curl_api "$api_url/readyz"
cat "$dev_dir/kube-apiserver.pid" > "$dev_dir/apiserver/ready-pid"

# The kubeconfig and .dev/env are written whole (a file per process) and renamed into place: a
# test or another dev-up.sh running meanwhile reads the old file or the new one, never half of one.
kubeconfig=$dev_dir/kubeconfig
(umask 077; cat > "$kubeconfig.$$") <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster:
    server: $api_url
    certificate-authority: $pki/ca.crt
users:
- name: dev-admin
  user:
    client-certificate: $pki/admin.crt
    client-key: $pki/admin.key
contexts:
- name: dev
  context: {cluster: dev, user: dev-admin, namespace: default}
current-context: dev
KCFG
mv -f "$kubeconfig.$$" "$kubeconfig"
export KUBECONFIG=$kubeconfig

# --- PostgreSQL 15 -------------------------------------------------------------------------------
pg_bin=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null) || die "PostgreSQL 15 is not installed"
pg_data=$pg_root/data
pg_server_up "$pg_bin" "" "$pg_root" "$pg_port"
admin_password=$(cat "$pg_root/admin-password")

# --- MariaDB ------------------------------------------------------------------------------------
if [ ! -s "$my_root/admin-password" ]; then
  log "initialising MariaDB in $my_root/data"
  rm -rf "$my_root"
  mkdir -p "$my_root/data" "$my_root/run"
  (umask 077; openssl rand -base64 48 | tr -dc 'A-Za-z0-9' | head -c 32 > "$my_root/admin-password.new")
  printf root > "$my_root/admin-username"
  chown -R "$my_os_user" "$my_root/data" "$my_root/run"
  mariadb-install-db --no-defaults --user="$my_os_user" --datadir="$my_root/data" \
    --auth-root-authentication-method=normal --skip-test-db > "$my_root/install.log" 2>&1
fi
if ! pid_alive "$my_root/mariadbd.pid"; then
  log "starting MariaDB on 127.0.0.1:$mysql_port"
  install -m 644 -o "$my_os_user" /dev/null "$my_root/mariadb.log" 2>/dev/null || true
  # The general log (off until a test turns it on): the server, running as mysql, cannot
  # create files in this root-owned directory.
  [ -e "$my_root/general.log" ] || install -m 644 -o "$my_os_user" /dev/null "$my_root/general.log"
  daemon /dev/null mariadbd --no-defaults --user="$my_os_user" --datadir="$my_root/data" --port="$mysql_port" \
    --bind-address=127.0.0.1 --socket="$my_root/run/mysqld.sock" --skip-name-resolve \
    --pid-file="$my_root/run/mariadbd.pid" --log-error="$my_root/mariadb.log" \
    --innodb-buffer-pool-size=32M --innodb-flush-log-at-trx-commit=0 \
    --general-log-file="$my_root/general.log" > "$my_root/mariadbd.pid"
fi
# The password through a function's environment, not `env NAME=…` (argv, seen by ps).
my_ping() {
  MYSQL_PWD=$(cat "$my_root/admin-password" 2>/dev/null) \
    mariadb-admin --no-defaults --socket="$my_root/run/mysqld.sock" -uroot ping
}
wait_for "MariaDB" 60 my_ping
if [ -s "$my_root/admin-password.new" ]; then
  # First start: the TCP admin (root@127.0.0.1) and root@localhost get the generated password.
  my_pw=$(cat "$my_root/admin-password.new")
  mariadb --no-defaults --socket="$my_root/run/mysqld.sock" -uroot <<SQL
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '$my_pw';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$my_pw';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
DROP USER IF EXISTS 'root'@'::1', 'root'@'$(hostname)', ''@'localhost', ''@'$(hostname)';
ALTER USER 'root'@'localhost' IDENTIFIED BY '$my_pw';
FLUSH PRIVILEGES;
SQL
  mv "$my_root/admin-password.new" "$my_root/admin-password"
fi
mysql_password=$(cat "$my_root/admin-password")

# --- CRDs and the admin Secret -------------------------------------------------------------------
kubectl apply --server-side --force-conflicts --field-manager=dbuser-dev -k "$repo_root/deploy/crd" \
  >/dev/null
kubectl wait --for=condition=Established --timeout=60s crd/postgresusers.database.example.com \
  crd/postgresroles.database.example.com crd/mysqlusers.database.example.com \
  crd/databasetargetpolicies.database.example.com >/dev/null
# Established is not yet served: the first requests may get 429 while its storage initialises.
wait_for "the PostgresUser API" 60 kubectl get postgresusers -A
wait_for "the PostgresRole API" 60 kubectl get postgresroles -A
wait_for "the MySQLUser API" 60 kubectl get mysqlusers -A
wait_for "the DatabaseTargetPolicy API" 60 kubectl get databasetargetpolicies
kubectl create secret generic postgres-admin -n default \
  --from-file=username="$pg_root/admin-username" --from-file=password="$pg_root/admin-password" \
  --dry-run=client -o yaml | kubectl apply --server-side --force-conflicts \
  --field-manager=dbuser-dev -f - >/dev/null
kubectl create secret generic mysql-admin -n default \
  --from-file=username="$my_root/admin-username" --from-file=password="$my_root/admin-password" \
  --dry-run=client -o yaml | kubectl apply --server-side --force-conflicts \
  --field-manager=dbuser-dev -f - >/dev/null

# --- .dev/env ------------------------------------------------------------------------------------
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
umask 077
cat > "$dev_dir/env.$$" <<ENV
# Written by hack/dev-up.sh. Source it: . .dev/env
export KUBECONFIG=$(q "$kubeconfig")
export PGHOST='127.0.0.1'
export PGPORT='$pg_port'
export PGUSER='postgres'
export PGPASSWORD=$(q "$admin_password")
export PGDATABASE='postgres'
export DBUSER_APISERVER_URL=$(q "$api_url")
export DBUSER_APISERVER_PID_FILE=$(q "$dev_dir/kube-apiserver.pid")
export DBUSER_CA_FILE=$(q "$pki/ca.crt")
export DBUSER_ETCD_URL=$(q "$etcd_url")
export DBUSER_PG_LP_USER=$(q "$lp_admin_user")
export DBUSER_PG_LP_PASSWORD=$(q "$(cat "$pg_root/lp-admin-password")")
export DBUSER_PG_DATA=$(q "$pg_data")
export DBUSER_PG_LOG=$(q "$pg_root/postgresql.log")
export DBUSER_PG_CA=$(q "$pki/ca.crt")
export DBUSER_PG_MAJOR='15'
export DBUSER_APISERVER_VERSION=$(q "$k8s_version")
export DBUSER_K8S_BIN_DIR=$(q "$bin_dir")
export MYSQL_HOST='127.0.0.1'
export MYSQL_PORT='$mysql_port'
export MYSQL_USER='root'
export MYSQL_PASSWORD=$(q "$mysql_password")
export DBUSER_MYSQL_SOCKET=$(q "$my_root/run/mysqld.sock")
export DBUSER_MYSQL_GENERAL_LOG=$(q "$my_root/general.log")
ENV
mv -f "$dev_dir/env.$$" "$dev_dir/env"
log "ready: kube-apiserver $k8s_version $api_url, PostgreSQL 127.0.0.1:$pg_port, MariaDB 127.0.0.1:$mysql_port; use: . $dev_dir/env"
