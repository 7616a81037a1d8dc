# Shared by hack/cluster-up.sh, cluster-down.sh and the cluster tests' fixture (sourced after
# lib.sh). Everything of the single-node dev cluster lives under $cluster_dir; nothing runs as a
# system service and nothing uses the machine's /run/containerd, /var/lib/kubelet or
# /var/lib/containerd.
cluster_dir=$dev_dir/cluster
containerd_dir=$cluster_dir/containerd
containerd_sock=$containerd_dir/containerd.sock
kubelet_dir=$cluster_dir/kubelet
# One id per dev environment (several worktrees may run a cluster on one machine): names the
# bridge, the pod subnet and the kubelet's cgroup root so that two clusters never share them.
cluster_id=$(printf '%s' "$dev_dir" | cksum | cut -d' ' -f1)
bridge=dbu$(printf '%05d' $((cluster_id % 100000)))
cgroup_root=dbuser-$((cluster_id % 100000))
# ctr on this cluster's containerd, in the CRI's namespace.
kctr() { ctr -a "$containerd_sock" -n k8s.io "$@"; }
