#include "test/cluster/operator_install.hpp"

#include "test/support/dev_env.hpp"
#include "test/support/wait.hpp"

#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace dbuser::test::cluster {

using namespace std::chrono;
using e2e::run;
using nlohmann::json;

namespace {

const char* const selector = "app.kubernetes.io/name=dbuser-operator";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

long long read_number(const std::string& path) {
  auto s = read_file(path);
  return s.empty() ? 0 : std::stoll(s);
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\n");
  auto e = s.find_last_not_of(" \t\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

} // namespace

const cluster_env& cluster_env::get() {
  static const cluster_env env = [] {
    const std::string path = dev_env::get().dir() + "/cluster/env";
    std::ifstream in(path);
    if (!in)
      throw std::runtime_error("no dev cluster at " + path + ": run `make cluster-up`");
    std::map<std::string, std::string> vars;
    std::string line;
    while (std::getline(in, line)) {
      // export KEY='value' (cluster-up.sh writes no quotes inside values)
      auto eq = line.find('=');
      if (line.rfind("export ", 0) != 0 || eq == std::string::npos)
        continue;
      auto v = line.substr(eq + 1);
      if (v.size() >= 2 && v.front() == '\'')
        v = v.substr(1, v.size() - 2);
      vars[line.substr(7, eq - 7)] = v;
    }
    cluster_env e;
    e.node = vars["DBUSER_CLUSTER_NODE"];
    e.gateway = vars["DBUSER_CLUSTER_GATEWAY"];
    e.overlays = vars["DBUSER_CLUSTER_OVERLAYS"];
    e.helm_values = vars["DBUSER_CLUSTER_HELM_VALUES"];
    return e;
  }();
  return env;
}

json user_in_cluster(const e2e::e2e_env& env, const std::string& name, const std::string& username,
                     const std::string& database, const std::string& secret) {
  auto u = env.user_manifest(name, username, database, secret);
  u["spec"]["host"] = cluster_env::get().gateway;
  return u;
}

operator_install::operator_install(const e2e::kube& k, const std::string& variant) : k8s(k) {
  // Fresh Pods for every test (restart counts, leadership and memory start from zero).
  (void)k8s.kubectl({"delete", "deployment", deployment, "-n", operator_ns, "--ignore-not-found",
                     "--wait=false"});
  if (!wait_until([&] { return pods(true).empty(); }, seconds(60), milliseconds(250)))
    throw std::runtime_error("the operator's previous Pods are still there after 60 s\n"
                             + describe());
  k8s.must({"apply", "-k", cluster_env::get().overlays + "/" + variant});
  if (!wait_rolled_out(seconds(180)))
    throw std::runtime_error("the operator's Deployment did not roll out in 180 s\n" + describe());
}

operator_install::~operator_install() {
  if (keep_)
    return;
  try {
    (void)k8s.kubectl({"delete", "deployment", deployment, "-n", operator_ns,
                       "--ignore-not-found", "--wait=false"});
    if (!wait_until([&] { return pods(true).empty(); }, seconds(60), milliseconds(250)))
      std::cerr << "operator Pods still there 60 s after the Deployment was deleted\n"
                << describe();
  } catch (const std::exception& e) {
    std::cerr << "removing the operator's Deployment: " << e.what() << "\n";
  }
}

std::vector<json> operator_install::pods(bool all) const {
  std::vector<json> out;
  const auto list =
      json::parse(k8s.must({"get", "pods", "-n", operator_ns, "-l", selector, "-o", "json"}));
  for (const auto& p : list.value("items", json::array()))
    if (all || !p["metadata"].contains("deletionTimestamp"))
      out.push_back(p);
  return out;
}

bool operator_install::wait_rolled_out(seconds deadline) const {
  return k8s
      .kubectl({"rollout", "status", "deployment/" + std::string(deployment), "-n", operator_ns,
                "--timeout=" + std::to_string(deadline.count()) + "s"})
      .ok();
}

std::string operator_install::leader() const {
  auto lease = k8s.get("lease", operator_ns, "dbuser-operator");
  if (!lease)
    return "";
  // The identity is <host>_<pid>; a Pod's host name is its name.
  const auto holder = lease->value("/spec/holderIdentity"_json_pointer, std::string());
  return holder.substr(0, holder.rfind('_'));
}

std::string operator_install::current_leader() const {
  const auto holder = leader();
  if (holder.empty())
    return "";
  for (const auto& p : pods())
    if (p["metadata"].value("name", std::string()) == holder)
      return holder;
  return "";
}

std::optional<std::string> operator_install::http_get(const json& pod, const std::string& path,
                                                      milliseconds timeout) const {
  const auto ip = pod.value("/status/podIP"_json_pointer, std::string());
  if (ip.empty())
    return std::nullopt;
  auto r = run({"curl", "-fsS", "--max-time", std::to_string(timeout.count() / 1000.0),
                "http://" + ip + ":8080" + path});
  if (!r.ok())
    return std::nullopt;
  return r.out;
}

std::optional<double> operator_install::metric(const json& pod, const std::string& sample,
                                               milliseconds timeout) const {
  auto body = http_get(pod, "/metrics", timeout);
  if (!body)
    return std::nullopt;
  return sample_value(*body, sample);
}

std::optional<double> sample_value(const std::string& metrics, const std::string& sample) {
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(sample + " ", 0) == 0)
      return std::stod(line.substr(sample.size() + 1));
  return std::nullopt;
}

std::optional<container_process> operator_install::process(const json& pod) const {
  const auto statuses = pod.value("/status/containerStatuses"_json_pointer, json::array());
  if (statuses.empty())
    return std::nullopt;
  auto id = statuses[0].value("containerID", std::string());
  if (id.rfind("containerd://", 0) != 0)
    return std::nullopt;
  id = id.substr(13);
  // The kubelet (cgroupfs driver) names the container's cgroup after its ID.
  auto dir = trim(run({"find", "/sys/fs/cgroup/memory", "-type", "d", "-name", id}).out);
  if (dir.empty() || dir.find('\n') != std::string::npos)
    return std::nullopt;
  container_process p;
  std::istringstream procs(read_file(dir + "/cgroup.procs"));
  if (!(procs >> p.pid))
    return std::nullopt;
  std::istringstream status(read_file("/proc/" + std::to_string(p.pid) + "/status"));
  std::string line;
  while (std::getline(status, line)) {
    auto colon = line.find(':');
    if (colon != std::string::npos)
      p.status[line.substr(0, colon)] = trim(line.substr(colon + 1));
  }
  std::istringstream mountinfo(read_file("/proc/" + std::to_string(p.pid) + "/mountinfo"));
  while (std::getline(mountinfo, line)) {
    std::istringstream f(line);
    std::string mount_id, parent, devno, root, point, options;
    f >> mount_id >> parent >> devno >> root >> point >> options;
    if (point == "/")
      p.root_mount_options = options;
  }
  p.memory_usage = read_number(dir + "/memory.usage_in_bytes");
  p.memory_max_usage = read_number(dir + "/memory.max_usage_in_bytes");
  p.memory_limit = read_number(dir + "/memory.limit_in_bytes");
  return p;
}

std::string operator_install::logs(const std::string& pod) const {
  auto r = k8s.kubectl({"logs", pod, "-n", operator_ns, "--tail=40"});
  return r.ok() ? r.out : "(kubectl logs: " + r.err + ")";
}

std::string operator_install::describe() const {
  std::ostringstream out;
  try {
    for (const auto& p : pods(true)) {
      const std::string name = p["metadata"]["name"];
      out << "Pod " << name << ": phase " << p.value("/status/phase"_json_pointer, std::string())
          << ", restarts " << restarts(p) << ", OOMKilled " << oom_killed(p) << ", statuses "
          << p.value("/status/containerStatuses"_json_pointer, json::array()).dump() << "\n"
          << e2e::tail_lines(logs(name), 20) << "\n";
    }
    out << "Lease holder: " << leader() << "\n";
  } catch (const std::exception& e) {
    out << "(" << e.what() << ")\n";
  }
  return out.str();
}

int restarts(const json& pod) {
  int n = 0;
  for (const auto& s : pod.value("/status/containerStatuses"_json_pointer, json::array()))
    n += s.value("restartCount", 0);
  return n;
}

bool oom_killed(const json& pod) {
  for (const auto& s : pod.value("/status/containerStatuses"_json_pointer, json::array()))
    for (const auto* state : {"state", "lastState"})
      if (s.value(json::json_pointer("/" + std::string(state) + "/terminated/reason"),
                  std::string()) == "OOMKilled")
        return true;
  return false;
}

} // namespace dbuser::test::cluster
