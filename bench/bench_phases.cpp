// dbuser-bench: the phases that are functions of their own, 6. the restart storm and 8. the raw
// baseline (see bench_driver.hpp; the flow is at the top of bench_driver.cpp).

#include "bench/bench_driver.hpp"

#include <cstdio>

using namespace std::chrono;

namespace dbuser::bench {

namespace {

bool is_write(const std::string& verb) {
  return verb == "create" || verb == "patch" || verb == "update" || verb == "delete";
}

} // namespace

// 6. The restart storm: `op` is replaced by a new operator with the same flags. Peaks of the
// sampler cover the phase only (the run's are put back after it).
json restart_storm(const options& o, const std::string& ns, operator_proc& op, sampler& samp,
                   int expected) {
  std::cerr << "bench: restarting the operator with " << expected << " users\n";
  const double old_cpu = read_proc(op.pid).cpu_s;
  const auto stop0 = clock_type::now();
  stop_operator(op);
  const double stop_seconds = seconds_since(stop0);
  const long conns_run = samp.peak_conns.exchange(0);
  const long logins_run = samp.peak_login_conns.exchange(0);
  op = start_operator(o, ns, op.log);
  const auto t0 = clock_type::now();
  samp.pid = op.pid;
  const auto machine0 = cpu_of_env(op.pid);
  auto reconciled = [&](const series_map& m) {
    return total(by_label(m, "dbuser_reconciles_total", "result"));
  };
  double t_ready = -1, t_all = -1;
  series_map m;
  const auto deadline = t0 + seconds(120 + o.n / 10);
  while (clock_type::now() < deadline && alive(op.pid)) {
    if (t_ready < 0 && http_get(op.port, "/readyz").first == 200)
      t_ready = seconds_since(t0);
    auto text = http_get(op.port, "/metrics");
    if (text.first == 200) {
      m = parse_metrics(text.second);
      if (reconciled(m) >= expected) {
        t_all = seconds_since(t0);
        break;
      }
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  const auto machine1 = cpu_of_env(op.pid);
  // Status patches or Events of the last reconciles may still be in flight: count them too.
  std::this_thread::sleep_for(seconds(3));
  const auto after = parse_metrics(http_get(op.port, "/metrics").second);
  const auto proc = read_proc(op.pid);
  const auto verbs = by_label(after, "dbuser_kube_requests_total", "verb");
  double writes = 0;
  for (const auto& [verb, count] : verbs)
    if (is_write(verb))
      writes += count;
  json r{{"verified_all", t_all >= 0},
         {"users", expected},
         {"reconciles", reconciled(after)},
         {"reconciles_by_result", per_user(by_label(after, "dbuser_reconciles_total", "result"), 1)},
         {"seconds_to_exit", stop_seconds},
         {"seconds_to_readyz", t_ready},
         {"seconds_to_all_verified", t_all},
         {"users_per_s", t_all > 0 ? expected / t_all : 0},
         {"kube_requests", total(verbs)},
         {"kube_requests_by_verb", per_user(verbs, 1)},
         {"kube_writes", writes},
         {"db_jobs", total(by_label(after, "dbuser_db_pool_jobs_total", ""))},
         {"pg_connections_peak", samp.peak_conns.load()},
         {"pg_login_check_connections_peak", samp.peak_login_conns.load()},
         {"cpu_seconds", cpu_delta(machine0, machine1)},
         {"rss_after_mb", mb(proc.rss_kb)},
         {"previous_operator_cpu_seconds", old_cpu}};
  auto keep_max = [](std::atomic<long>& a, long v) { a = std::max(a.load(), v); };
  keep_max(samp.peak_conns, conns_run);
  keep_max(samp.peak_login_conns, logins_run);
  std::cerr << "bench: restart: " << (t_all >= 0 ? "every user reconciled again" : "TIMED OUT")
            << " after " << t_all << " s, " << writes << " Kubernetes writes\n";
  return r;
}

json run_raw(const options& o, const std::string& ns) {
  std::string cmd = o.raw_bin + " --n " + std::to_string(o.n) + " --namespace " + ns
                    + "-raw --concurrency " + std::to_string(o.concurrency) + " --pool "
                    + std::to_string(o.pool_size);
  std::cerr << "bench: raw baseline: " << cmd << "\n";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr)
    return json{{"error", "cannot run the raw baseline"}};
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, f) != nullptr)
    out += buf;
  int rc = ::pclose(f);
  auto at = out.find("RAW_JSON ");
  if (at == std::string::npos)
    return json{{"error", "the raw baseline printed no RAW_JSON line (exit " + std::to_string(rc) + ")"}};
  auto line = out.substr(at + 9, out.find('\n', at) - at - 9);
  auto j = json::parse(line, nullptr, false);
  if (j.is_discarded())
    return json{{"error", "the raw baseline's RAW_JSON line is not JSON"}};
  return j;
}

} // namespace dbuser::bench
