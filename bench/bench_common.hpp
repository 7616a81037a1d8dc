#pragma once

// Pieces shared by the benchmark driver (bench_driver.cpp) and the raw baseline
// (raw_baseline.cpp): the dev environment, the Kubernetes client, an in-flight limiter, retries,
// the PostgresUser manifest, /proc readings, percentiles and namespace cleanup.

#include "common/base64.hpp"
#include "k8s/client.hpp"
#include "k8s/config.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace dbuser::bench {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point t0, clock_type::time_point t = clock_type::now()) {
  return std::chrono::duration<double>(t - t0).count();
}

inline std::string env_or(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

inline std::string must_env(const char* name) {
  auto v = env_or(name);
  if (v.empty())
    throw std::runtime_error(std::string("environment variable ") + name
                             + " is not set (source $DBUSER_DEV_DIR/env)");
  return v;
}

// The admin PostgreSQL connection string for the bench's own queries (not counted as the
// operator's: another application_name).
inline std::string admin_conninfo(const std::string& db = "postgres") {
  return "host=" + env_or("PGHOST", "127.0.0.1") + " port=" + must_env("PGPORT")
         + " user=" + must_env("PGUSER") + " password=" + must_env("PGPASSWORD") + " dbname=" + db
         + " sslmode=prefer application_name=dbuser-bench";
}

inline std::shared_ptr<k8s::client> make_client(double qps = 5000, int burst = 10000) {
  auto cfg = k8s::load_kubeconfig(must_env("KUBECONFIG"));
  if (!cfg)
    throw std::runtime_error("kubeconfig: " + cfg.error().to_string());
  k8s::client_options o;
  o.qps = qps;
  o.burst = burst;
  o.threads = 4;
  o.field_manager = "dbuser-bench";
  o.user_agent = "dbuser-bench/0.1";
  auto c = k8s::client::make(*cfg, o);
  if (!c)
    throw std::runtime_error("Kubernetes client: " + c.error().to_string());
  return *c;
}

// Bounds the requests in flight: acquire() blocks the (own) calling thread while `max` are out.
class limiter {
public:
  explicit limiter(int max) : free_(max), max_(max) {}
  void acquire() {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return free_ > 0; });
    --free_;
  }
  void release() {
    {
      std::lock_guard<std::mutex> l(m_);
      ++free_;
    }
    cv_.notify_all();
  }
  void drain() { // waits until nothing is in flight
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return free_ == max_; });
  }

private:
  std::mutex m_;
  std::condition_variable cv_;
  int free_;
  int max_;
};

// Issues `start(cb)` and retries it (up to `attempts`, 200 ms apart, on the client's timer) while
// the error is retryable (429, 5xx, transport); `done` gets the final result.
inline void with_retry(const std::shared_ptr<k8s::client>& kube,
                       std::function<void(k8s::callback<json>)> start,
                       k8s::callback<json> done, int attempts = 20) {
  start([kube, start, done, attempts](expected<json, k8s::error> r) {
    if (!r && r.error().retryable() && r.error().code != k8s::error::kind::conflict
        && attempts > 1) {
      kube->schedule_after(std::chrono::milliseconds(200), [kube, start, done, attempts] {
        with_retry(kube, start, done, attempts - 1);
      });
      return;
    }
    done(std::move(r));
  });
}

// Blocking call for setup and cleanup.
inline expected<json, k8s::error> call(const std::shared_ptr<k8s::client>& kube,
                                       std::function<void(k8s::callback<json>)> start) {
  return k8s::wait_for<json>([&](k8s::callback<json> cb) { with_retry(kube, start, cb); });
}

inline std::string user_name(const std::string& prefix, int i) { return prefix + "-" + std::to_string(i); }
inline std::string role_name(const std::string& prefix, int i) { return prefix + "_" + std::to_string(i); }

// The benchmark's PostgresUser: {username: <role_prefix>_<i>, database: bench_db, ...}.
inline json user_manifest(const std::string& ns, const std::string& name, const std::string& role,
                          const std::string& secret, int pg_port) {
  return json{{"apiVersion", "database.example.com/v1alpha1"},
              {"kind", "PostgresUser"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec",
               {{"username", role},
                {"database", "bench_db"},
                {"host", "127.0.0.1"},
                {"port", pg_port},
                {"adminSecretRef", {{"name", "postgres-admin"}}},
                {"privileges", json::array({"SELECT", "INSERT", "UPDATE", "DELETE"})},
                {"secretName", secret}}}};
}

// Creates the namespace and, when `admin_secret`, the postgres-admin Secret from PGUSER/PGPASSWORD.
inline void make_namespace(const std::shared_ptr<k8s::client>& kube, const std::string& ns,
                           bool admin_secret) {
  auto r = call(kube, [&](k8s::callback<json> cb) {
    kube->create(k8s::resource::namespaces(), "",
                 json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}},
                 cb);
  });
  if (!r && r.error().code != k8s::error::kind::already_exists)
    throw std::runtime_error("creating namespace " + ns + ": " + r.error().to_string());
  if (!admin_secret)
    return;
  json secret{{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", "postgres-admin"}, {"namespace", ns}}},
              {"type", "Opaque"},
              {"data",
               {{"username", base64_encode(must_env("PGUSER"))},
                {"password", base64_encode(must_env("PGPASSWORD"))}}}};
  auto s = call(kube, [&](k8s::callback<json> cb) {
    kube->create(k8s::resource::secrets(), ns, secret, cb);
  });
  if (!s && s.error().code != k8s::error::kind::already_exists)
    throw std::runtime_error("creating the admin Secret: " + s.error().to_string());
}

// DELETE on a collection (deletecollection): everything of that kind in the namespace.
inline void delete_collection(const std::shared_ptr<k8s::client>& kube, const k8s::resource& res,
                              const std::string& ns) {
  k8s::http_request req;
  req.method = "DELETE";
  req.target = k8s::collection_path(res, ns);
  req.verb = "deletecollection";
  auto r = call(kube, [&](k8s::callback<json> cb) { kube->raw(req, cb); });
  if (!r && r.error().code != k8s::error::kind::not_found)
    std::cerr << "bench: cleanup of " << res.plural << " in " << ns << ": "
              << r.error().to_string() << "\n";
}

// Strips the finalizers of the given PostgresUsers (in parallel), so they can go without the
// operator.
inline void strip_finalizers(const std::shared_ptr<k8s::client>& kube, const std::string& ns,
                             const std::vector<std::string>& names, int concurrency) {
  limiter lim(concurrency);
  for (const auto& name : names) {
    lim.acquire();
    with_retry(
      kube,
      [kube, ns, name](k8s::callback<json> cb) {
        kube->patch(k8s::object_ref{k8s::resource::postgres_users(), ns, name, ""},
                    k8s::patch_type::merge, json{{"metadata", {{"finalizers", nullptr}}}}, cb);
      },
      [&lim](expected<json, k8s::error>) { lim.release(); });
  }
  lim.drain();
}

// Empties the namespace (PostgresUsers without finalizers, Secrets, Events) and deletes it. This
// control plane has no namespace controller: the namespace is finalized by hand.
inline void delete_namespace(const std::shared_ptr<k8s::client>& kube, const std::string& ns) {
  auto list = call(kube, [&](k8s::callback<json> cb) {
    kube->list_all(k8s::resource::postgres_users(), ns, {}, cb);
  });
  if (list) {
    std::vector<std::string> names;
    for (const auto& item : list->value("items", json::array()))
      if (!item.value("/metadata/finalizers"_json_pointer, json::array()).empty())
        names.push_back(item.value("/metadata/name"_json_pointer, ""));
    strip_finalizers(kube, ns, names, 64);
  }
  delete_collection(kube, k8s::resource::postgres_users(), ns);
  delete_collection(kube, k8s::resource::secrets(), ns);
  delete_collection(kube, k8s::resource::events(), ns);
  (void)call(kube, [&](k8s::callback<json> cb) {
    kube->remove(k8s::object_ref{k8s::resource::namespaces(), "", ns, ""}, {}, cb);
  });
  auto n = call(kube, [&](k8s::callback<json> cb) {
    kube->get(k8s::object_ref{k8s::resource::namespaces(), "", ns, ""}, cb);
  });
  if (!n)
    return;
  (*n)["spec"]["finalizers"] = json::array();
  k8s::http_request req;
  req.method = "PUT";
  req.target = "/api/v1/namespaces/" + ns + "/finalize";
  req.body = n->dump();
  req.content_type = "application/json";
  req.verb = "update";
  auto f = call(kube, [&](k8s::callback<json> cb) { kube->raw(req, cb); });
  if (!f)
    std::cerr << "bench: finalizing namespace " << ns << ": " << f.error().to_string() << "\n";
}

// /proc readings of a process.
struct proc_sample {
  long rss_kb = 0;    // VmRSS
  long hwm_kb = 0;    // VmHWM (peak RSS)
  double cpu_s = 0;   // utime + stime
  bool ok = false;
};

inline proc_sample read_proc(pid_t pid) {
  proc_sample s;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0)
      s.rss_kb = std::stol(line.substr(6));
    else if (line.rfind("VmHWM:", 0) == 0)
      s.hwm_kb = std::stol(line.substr(6));
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos)
    return s;
  std::istringstream rest(text.substr(close + 2));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;)
    fields.push_back(f);
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  if (fields.size() > 12) {
    const double tck = static_cast<double>(::sysconf(_SC_CLK_TCK));
    s.cpu_s = (std::stod(fields[11]) + std::stod(fields[12])) / tck;
    s.ok = true;
  }
  return s;
}

// The q-quantile (0..1) of `v` (nearest rank); 0 when empty.
inline double quantile(std::vector<double> v, double q) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(q * static_cast<double>(v.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

inline json latency_summary_ms(const std::vector<double>& seconds) {
  std::vector<double> ms;
  ms.reserve(seconds.size());
  for (double s : seconds)
    ms.push_back(s * 1000);
  return json{{"p50", quantile(ms, 0.50)},
              {"p95", quantile(ms, 0.95)},
              {"p99", quantile(ms, 0.99)},
              {"max", ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end())}};
}

} // namespace dbuser::bench
