#!/usr/bin/env bash
# `make cluster-up`: a real single-node cluster on this machine, beside the dev control plane of
# hack/dev-up.sh (which it runs first): containerd + runc (Debian), kube-controller-manager,
# kube-scheduler and a kubelet (built from the pinned k8s.io/kubernetes module by
# hack/build-control-plane.sh), a pod network on a bridge of its own, the sandbox and operator
# images (hack/image.sh). Idempotent; `make cluster-down` stops it all.
#
# Pod network: the CNI bridge plugin (Debian's containernetworking-plugins) on a bridge and /24 of
# this dev environment's own. kube-apiserver, PostgreSQL and MariaDB listen on 127.0.0.1 only, which
# a Pod cannot reach, so socat forwards the bridge's gateway address (same ports) to them; Pods
# name the API server kubernetes.default.svc (a SAN of its certificate) through a hostAliases
# entry that points at the gateway. There is no kube-proxy and no cluster DNS: the dev overlay
# (written to .dev/cluster/overlays/) sets KUBERNETES_SERVICE_HOST/PORT for the operator.
# Writes .dev/cluster/env (sourced by the tests).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster-lib.sh"

"$repo_root/hack/dev-up.sh"
# shellcheck disable=SC1091
source "$dev_dir/env"
# shellcheck disable=SC1091
source "$dev_dir/ports"
# Pods get their ServiceAccount token through the ServiceAccount admission plugin: an API server
# started by an older dev-up.sh without it is replaced.
if pid_alive "$DBUSER_APISERVER_PID_FILE" \
  && tr '\0' ' ' < "/proc/$(cat "$DBUSER_APISERVER_PID_FILE")/cmdline" | grep -q 'disable-admission-plugins=ServiceAccount'; then
  log "kube-apiserver runs without the ServiceAccount admission plugin; restarting it"
  stop_pid "$DBUSER_APISERVER_PID_FILE" 20
  "$repo_root/hack/dev-up.sh"
fi
bin_dir=$(DBUSER_NODE_BINARIES=1 "$repo_root/hack/build-control-plane.sh" | tail -n 1)
pki=$dev_dir/pki
mkdir -p "$cluster_dir"/{pki,logs} "$containerd_dir" "$kubelet_dir"

# --- network: bridge, subnet, node address ------------------------------------------------------
if [ ! -s "$cluster_dir/net" ]; then
  octet=$((cluster_id % 200 + 20))
  while ip -4 -o addr show | grep -q " 10\.213\.$octet\."; do octet=$(((octet + 1) % 200 + 20)); done
  {
    echo "pod_subnet=10.213.$octet.0/24"
    echo "gateway=10.213.$octet.1"
    echo "kubelet_port=$(free_port)"
    echo "kubelet_healthz_port=$(free_port)"
  } > "$cluster_dir/net"
fi
# shellcheck disable=SC1091
source "$cluster_dir/net"
# The node is named by its address: the API server reaches a kubelet (kubectl logs) at the node's
# Hostname address first, and no DNS here resolves a made-up name.
node_name=$gateway
if ! ip link show "$bridge" >/dev/null 2>&1; then
  log "making bridge $bridge ($gateway for $pod_subnet)"
  ip link add "$bridge" type bridge
  ip addr add "$gateway/24" dev "$bridge"
  ip link set "$bridge" up
fi

# --- forwarders: gateway:port → 127.0.0.1:port ----------------------------------------------------
forward() { # name port
  local pidfile=$cluster_dir/socat-$1.pid
  pid_alive "$pidfile" && return
  daemon "$cluster_dir/logs/socat-$1.log" socat "TCP-LISTEN:$2,bind=$gateway,fork,reuseaddr" \
    "TCP:127.0.0.1:$2" > "$pidfile"
}
forward apiserver "$apiserver_port"
forward postgres "$pg_port"
forward mysql "$mysql_port"

# --- certificates for the node and the controllers -----------------------------------------------
cpki=$cluster_dir/pki
sign() { # name subject extensions
  [ -s "$cpki/$1.crt" ] && return
  (
    cd "$cpki"; umask 077
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
      -CAserial "$cpki/ca.srl" -days 3650 -out "$1.crt" -extfile <(printf '%s\n' "$3") 2>/dev/null
    rm -f "$1.csr"
  )
}
sign kubelet "/O=system:nodes/CN=system:node:$node_name" "extendedKeyUsage=clientAuth"
sign kubelet-serving "/CN=$node_name" "subjectAltName=IP:$gateway,IP:127.0.0.1,DNS:$node_name
extendedKeyUsage=serverAuth"
sign controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
sign scheduler "/CN=system:kube-scheduler" "extendedKeyUsage=clientAuth"
kubeconfig_for() { # name
  cat > "$cluster_dir/$1.kubeconfig" <<KCFG
apiVersion: v1
kind: Config
clusters:
- {name: dev, cluster: {server: "$DBUSER_APISERVER_URL", certificate-authority: "$pki/ca.crt"}}
users:
- {name: $1, user: {client-certificate: "$cpki/$1.crt", client-key: "$cpki/$1.key"}}
contexts:
- {name: dev, context: {cluster: dev, user: $1}}
current-context: dev
KCFG
  chmod 600 "$cluster_dir/$1.kubeconfig"
}
kubeconfig_for kubelet
kubeconfig_for controller-manager
kubeconfig_for scheduler
# The Node authorizer is not enabled in the dev API server (RBAC only): the node's user gets the
# bootstrap system:node role.
kubectl create clusterrolebinding dbuser-dev-node --clusterrole=system:node \
  --user="system:node:$node_name" --dry-run=client -o yaml \
  | kubectl apply --server-side --force-conflicts --field-manager=dbuser-dev -f - >/dev/null

# --- containerd -----------------------------------------------------------------------------------
mkdir -p "$containerd_dir/cni" "$containerd_dir/cni-ipam"
cat > "$containerd_dir/cni/10-$bridge.conflist" <<CNI
{
  "cniVersion": "0.4.0",
  "name": "$bridge",
  "plugins": [{
    "type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false,
    "ipam": {"type": "host-local", "dataDir": "$containerd_dir/cni-ipam",
             "ranges": [[{"subnet": "$pod_subnet", "gateway": "$gateway"}]],
             "routes": [{"dst": "0.0.0.0/0"}]}
  }]
}
CNI
cat > "$containerd_dir/config.toml" <<TOML
version = 2
root = "$containerd_dir/root"
state = "$containerd_dir/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$containerd_sock"
[ttrpc]
  address = "$containerd_sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$containerd_dir/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/library/dbuser-pause:3.10"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  # The machine's root lacks CAP_SYS_RESOURCE (no negative oom_score_adj: runc would fail to
  # start the sandbox with "can't get final child's PID from pipe"): keep the adjustments at or
  # above containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$containerd_dir/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$containerd_dir/cni"
    max_conf_num = 1
TOML
if ! pid_alive "$cluster_dir/containerd.pid"; then
  log "starting containerd ($containerd_sock)"
  daemon "$cluster_dir/logs/containerd.log" containerd --config "$containerd_dir/config.toml" \
    > "$cluster_dir/containerd.pid"
fi
wait_for "containerd" 60 ctr -a "$containerd_sock" version

# --- images: sandbox and operator --------------------------------------------------------------
"$repo_root/hack/image.sh"

# --- kube-controller-manager and kube-scheduler ---------------------------------------------------
# Supervised (restarted when they exit), as on a real control plane: tests restart the shared dev
# API server, and kube-controller-manager exits for good when that happens while it asks for a
# service account token.
if ! pid_alive "$cluster_dir/kube-controller-manager.pid"; then
  log "starting kube-controller-manager"
  supervise "$cluster_dir/logs/kube-controller-manager.log" "$bin_dir/kube-controller-manager" \
    --kubeconfig="$cluster_dir/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$cluster_dir/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$cluster_dir/controller-manager.kubeconfig" \
    --secure-port=0 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-name=dbuser-dev --controllers='*,-bootstrapsigner,-tokencleaner' \
    > "$cluster_dir/kube-controller-manager.pid"
fi
if ! pid_alive "$cluster_dir/kube-scheduler.pid"; then
  log "starting kube-scheduler"
  supervise "$cluster_dir/logs/kube-scheduler.log" "$bin_dir/kube-scheduler" \
    --kubeconfig="$cluster_dir/scheduler.kubeconfig" \
    --authentication-kubeconfig="$cluster_dir/scheduler.kubeconfig" \
    --authorization-kubeconfig="$cluster_dir/scheduler.kubeconfig" \
    --secure-port=0 --leader-elect=false > "$cluster_dir/kube-scheduler.pid"
fi

# --- kubelet --------------------------------------------------------------------------------------
# Its own cgroup root (each v1 hierarchy), so that a second dev cluster's kubelet never treats
# these Pods' cgroups as its orphans.
for h in /sys/fs/cgroup/*/; do
  [ -e "$h/cgroup.procs" ] && [ ! -L "${h%/}" ] && mkdir -p "$h$cgroup_root"
done
# The kubelet sets these kernel tunables; cluster-down restores what they were.
[ -s "$cluster_dir/sysctl.saved" ] || sysctl vm.overcommit_memory kernel.panic kernel.panic_on_oops \
  | sed 's/ //g' > "$cluster_dir/sysctl.saved"
# Kubernetes 1.35 and later refuse to start on cgroup v1 unless told to (KEP-5573): this
# machine mounts v1 hierarchies (/sys/fs/cgroup is a tmpfs, not cgroup2fs).
cgroup_v1=""
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || cgroup_v1="failCgroupV1: false"
cat > "$kubelet_dir/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $gateway
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_healthz_port
tlsCertFile: $cpki/kubelet-serving.crt
tlsPrivateKeyFile: $cpki/kubelet-serving.key
# The dev API server has no kubelet client certificate (kubectl logs): the kubelet, listening on
# the bridge's address only, serves anyone on this machine.
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: /$cgroup_root
$cgroup_v1
containerRuntimeEndpoint: unix://$containerd_sock
podLogsDir: $kubelet_dir/pod-logs
staticPodPath: ""
failSwapOn: false
resolvConf: /etc/resolv.conf
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
serializeImagePulls: false
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
YAML
if ! pid_alive "$cluster_dir/kubelet.pid"; then
  log "starting kubelet (node $node_name, $gateway)"
  daemon "$cluster_dir/logs/kubelet.log" "$bin_dir/kubelet" --config="$kubelet_dir/config.yaml" \
    --kubeconfig="$cluster_dir/kubelet.kubeconfig" --root-dir="$kubelet_dir/root" \
    --cert-dir="$kubelet_dir/pki" --hostname-override="$node_name" --node-ip="$gateway" \
    > "$cluster_dir/kubelet.pid"
fi
wait_for "node $node_name Ready" 180 kubectl wait --for=condition=Ready --timeout=2s "node/$node_name"

# --- kustomize overlays of deploy/ for this cluster ---------------------------------------------
# The image from containerd (never pulled); the API server through the gateway.
overlay() { # name base
  local dir=$cluster_dir/overlays/$1
  mkdir -p "$dir"
  cat > "$dir/kustomization.yaml" <<KUST
# Written by hack/cluster-up.sh: deploy/$1 for the dev cluster (local image, API server via the
# bridge's gateway; see the header of hack/cluster-up.sh).
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- $(python3 -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$repo_root/deploy/$1" "$dir")
patches:
- target: {kind: Deployment, name: dbuser-operator}
  patch: |-
    - op: add
      path: /spec/template/spec/hostAliases
      value: [{ip: "$gateway", hostnames: [kubernetes.default.svc]}]
    - op: add
      path: /spec/template/spec/containers/0/imagePullPolicy
      value: Never
    - op: add
      path: /spec/template/spec/containers/0/env/-
      value: {name: KUBERNETES_SERVICE_HOST, value: kubernetes.default.svc}
    - op: add
      path: /spec/template/spec/containers/0/env/-
      value: {name: KUBERNETES_SERVICE_PORT, value: "$apiserver_port"}
KUST
}
overlay default
overlay namespaced
# The uninstall's first step (deploy/release-all: a Job, whose container has no env of its own).
job_overlay() { # name
  local dir=$cluster_dir/overlays/$1
  mkdir -p "$dir"
  cat > "$dir/kustomization.yaml" <<KUST
# Written by hack/cluster-up.sh: deploy/$1 for the dev cluster (as the operator's overlays).
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- $(python3 -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$repo_root/deploy/$1" "$dir")
patches:
- target: {kind: Job}
  patch: |-
    - op: add
      path: /spec/template/spec/hostAliases
      value: [{ip: "$gateway", hostnames: [kubernetes.default.svc]}]
    - op: add
      path: /spec/template/spec/containers/0/imagePullPolicy
      value: Never
    - op: add
      path: /spec/template/spec/containers/0/env
      value: [{name: KUBERNETES_SERVICE_HOST, value: kubernetes.default.svc},
              {name: KUBERNETES_SERVICE_PORT, value: "$apiserver_port"}]
KUST
}
job_overlay release-all
job_overlay release-all-namespaced
# The same for the Helm chart: helm install ... -f .dev/cluster/helm-values.yaml
cat > "$cluster_dir/helm-values.yaml" <<VALUES
# Written by hack/cluster-up.sh: deploy/chart's values for the dev cluster (as the overlays).
image: {pullPolicy: Never}
hostAliases: [{ip: "$gateway", hostnames: [kubernetes.default.svc]}]
extraEnv:
- {name: KUBERNETES_SERVICE_HOST, value: kubernetes.default.svc}
- {name: KUBERNETES_SERVICE_PORT, value: "$apiserver_port"}
VALUES

umask 077
cat > "$cluster_dir/env" <<ENV
# Written by hack/cluster-up.sh. Source it after .dev/env.
export DBUSER_CLUSTER_NODE='$node_name'
export DBUSER_CLUSTER_GATEWAY='$gateway'
export DBUSER_CLUSTER_OVERLAYS='$cluster_dir/overlays'
export DBUSER_CLUSTER_HELM_VALUES='$cluster_dir/helm-values.yaml'
export DBUSER_CLUSTER_CONTAINERD='$containerd_sock'
ENV
log "ready: node $node_name; try: . $dev_dir/env; kubectl apply -k $cluster_dir/overlays/default"
