#!/usr/bin/env bash
# `make cluster-down`: stops what hack/cluster-up.sh started — kubelet, the Pods' containers and
# their shims, containerd, kube-scheduler, kube-controller-manager, the forwarders — and removes
# its mounts, its bridge (and the Pods' veths with their network namespaces) and its cgroups,
# then stops the dev control plane (hack/dev-down.sh). Keeps the data (.dev/cluster, images) so
# the next cluster-up is quick. Leaves no process, mount or network interface behind; checks it.
# With --node-only (how hack/dev-down.sh calls it) the dev control plane is left to the caller.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster-lib.sh"

# Processes of this cluster that are not recorded in a pid file: containerd's shims (they outlive
# containerd on purpose) and the containers under them, found by this cluster's own paths.
own_pids() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -qF -- "$containerd_dir" && echo "${p#/proc/}"
  done
  # Containers' processes: in the kubelet's cgroup root.
  find /sys/fs/cgroup/pids/"$cgroup_root" -name cgroup.procs -exec cat {} + 2>/dev/null
  return 0
}

if [ -d "$cluster_dir" ]; then
  stop_pid "$cluster_dir/kubelet.pid" 20
  if pid_alive "$cluster_dir/containerd.pid"; then
    # Every container and sandbox of the CRI namespace: killed, deleted (the shims then exit).
    for id in $(kctr tasks ls -q 2>/dev/null); do kctr tasks kill -s KILL "$id" 2>/dev/null || true; done
    for id in $(kctr tasks ls -q 2>/dev/null); do
      for _ in $(seq 50); do
        kctr tasks ls 2>/dev/null | awk -v id="$id" '$1 == id {print $3}' | grep -q STOPPED && break
        sleep 0.1
      done
      kctr tasks delete -f "$id" >/dev/null 2>&1 || true
    done
    for id in $(kctr containers ls -q 2>/dev/null); do
      kctr containers delete "$id" >/dev/null 2>&1 || true
      # libcni's cached results of the sandbox (containerd's own loopback, and the bridge).
      rm -f /var/lib/cni/results/*-"$id"-*
    done
  fi
  stop_pid "$cluster_dir/containerd.pid" 20
  for pid in $(own_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  stop_pid "$cluster_dir/kube-scheduler.pid" 10
  stop_pid "$cluster_dir/kube-controller-manager.pid" 10
  for f in "$cluster_dir"/socat-*.pid; do
    [ -e "$f" ] || continue
    # socat forks one child per connection, in its session: stop them all.
    pid_alive "$f" && kill -TERM -- "-$(cat "$f")" 2>/dev/null || true
    stop_pid "$f" 5
  done
  # Mounts under the cluster's directories (rootfs overlays, shm, netns, Pod volumes), innermost
  # first.
  awk -v d="$cluster_dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  # The Pods' veths go with their network namespaces; the bridge is ours. The sandboxes were
  # removed without the CNI's DEL: release their addresses and libcni's cached results.
  if ip link show "$bridge" >/dev/null 2>&1; then ip link delete "$bridge"; fi
  rm -rf "$containerd_dir/cni-ipam/$bridge" /var/lib/cni/results/"$bridge"-*
  # Cgroups of the kubelet's root (innermost first: rmdir only removes empty ones).
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h$cgroup_root" ] && find "$h$cgroup_root" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # Kernel tunables the kubelet set.
  if [ -s "$cluster_dir/sysctl.saved" ]; then
    sysctl -q -w $(cat "$cluster_dir/sysctl.saved") && rm -f "$cluster_dir/sysctl.saved"
  fi
  # What Debian's containerd 1.6 and the kubelet keep at fixed paths whatever their
  # configuration (shim sockets in /run/containerd/s, the device-plugin directory): removed when
  # empty, i.e. when no other containerd or kubelet on this machine uses them.
  # (a kubelet that is a zombie, not reaped yet, is not running)
  if ! ps -C kubelet -o stat= | grep -qv '^Z'; then
    rm -f /var/lib/kubelet/device-plugins/kubelet.sock
  fi
  rmdir /run/containerd/s /run/containerd /var/lib/kubelet/device-plugins /var/lib/kubelet \
    /var/lib/cni/results /var/lib/cni /var/log/containers 2>/dev/null || true
  # The kubelet's links in /var/log/containers into this cluster's logs.
  for l in /var/log/containers/*.log; do
    if [ -L "$l" ]; then case $(readlink "$l") in "$kubelet_dir"/*) rm -f "$l" ;; esac; fi
  done
fi

[ "${1:-}" = --node-only ] || "$repo_root/hack/dev-down.sh"

# Check: nothing of the cluster is left.
left=$(own_pids)
mounts=$(awk -v d="$cluster_dir/" 'index($2, d) == 1' /proc/mounts)
[ -z "$left" ] || die "processes left: $left"
[ -z "$mounts" ] || die "mounts left: $mounts"
! ip link show "$bridge" >/dev/null 2>&1 || die "interface $bridge left"
log "cluster stopped: no process, mount or interface left"
