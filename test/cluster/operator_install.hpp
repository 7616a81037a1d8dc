#pragma once

// The operator installed in the dev cluster of hack/cluster-up.sh, as a user installs it:
// `kubectl apply -k` of deploy/default or deploy/namespaced through the overlay cluster-up
// writes (local image, API server through the bridge's gateway). The test's view of its Pods:
// their phase and restarts, their /metrics (the host reaches Pod IPs on the bridge), the Lease,
// and the containers' processes on this machine (uid, capabilities, seccomp, memory).

#include "test/e2e/support/e2e_env.hpp"
#include "test/e2e/support/kube.hpp"

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace dbuser::test::cluster {

inline constexpr const char* operator_ns = "dbuser-system";
inline constexpr const char* deployment = "dbuser-operator";

// .dev/cluster/env, written by hack/cluster-up.sh.
struct cluster_env {
  std::string node;
  std::string gateway;  // the bridge's address: Pods reach PostgreSQL and the API server here
  std::string overlays; // directory of the kustomize overlays of deploy/
  std::string helm_values; // deploy/chart's values for this cluster (helm install -f)
  static const cluster_env& get();
};

// A PostgresUser for the in-cluster operator: PostgreSQL at the gateway (127.0.0.1 is the Pod's
// own loopback).
nlohmann::json user_in_cluster(const e2e::e2e_env& env, const std::string& name,
                               const std::string& username, const std::string& database,
                               const std::string& secret);

// The host-side view of one container of a Pod.
struct container_process {
  int pid = 0;
  std::map<std::string, std::string> status; // /proc/<pid>/status
  std::string root_mount_options;            // options of "/" in /proc/<pid>/mountinfo
  long long memory_usage = 0;                // bytes, the container's memory cgroup
  long long memory_max_usage = 0;            // bytes, its high-water mark
  long long memory_limit = 0;                // bytes
};

class operator_install {
public:
  // Applies the overlay of deploy/<variant> and waits until the Deployment's rollout completes.
  operator_install(const e2e::kube& k8s, const std::string& variant);
  // Deletes the Deployment and waits until its Pods are gone (keep_running: leaves it).
  ~operator_install();
  operator_install(const operator_install&) = delete;
  operator_install& operator=(const operator_install&) = delete;

  void keep_running() { keep_ = true; }

  // The Deployment's Pods (not yet deleted ones unless all is true).
  [[nodiscard]] std::vector<nlohmann::json> pods(bool all = false) const;
  // kubectl rollout status with a deadline.
  [[nodiscard]] bool wait_rolled_out(std::chrono::seconds deadline) const;
  // The Pod holding the Lease, or "" when none.
  [[nodiscard]] std::string leader() const;
  // The Lease holder if it is one of the Pods that are not terminating, else "": during a
  // rollout or after a Pod's deletion the Lease may still name a Pod on its way out.
  [[nodiscard]] std::string current_leader() const;
  // GET http://<pod IP>:8080<path> from this machine; nullopt when it does not answer.
  [[nodiscard]] std::optional<std::string> http_get(
      const nlohmann::json& pod, const std::string& path,
      std::chrono::milliseconds timeout = std::chrono::seconds(2)) const;
  // The value of one sample of /metrics (e.g. dbuser_leader), or nullopt.
  [[nodiscard]] std::optional<double> metric(
      const nlohmann::json& pod, const std::string& sample,
      std::chrono::milliseconds timeout = std::chrono::seconds(2)) const;
  // The operator container's process on this machine.
  [[nodiscard]] std::optional<container_process> process(const nlohmann::json& pod) const;
  // The Pod's log (kubectl logs), for failure messages.
  [[nodiscard]] std::string logs(const std::string& pod) const;
  // Pods with their phase, readiness, restarts and last termination, for failure messages.
  [[nodiscard]] std::string describe() const;

  const e2e::kube k8s;

private:
  bool keep_ = false;
};

// The value of `sample` (name and labels as printed, e.g. dbuser_leader) in a /metrics body.
std::optional<double> sample_value(const std::string& metrics, const std::string& sample);

// Sum of the restart counts of a Pod's containers; whether one was ever OOMKilled.
int restarts(const nlohmann::json& pod);
bool oom_killed(const nlohmann::json& pod);

} // namespace dbuser::test::cluster
