#pragma once

// Private to dbuser-bench: what its files share. The flow is documented at the top of
// bench_driver.cpp.
//
//   bench_driver.cpp   the flow, the flags, the run from the fresh namespace to the report
//   bench_metrics.cpp  the operator's HTTP endpoint: a free port, GET /readyz and /metrics, the
//                      Prometheus text summed by label
//   bench_process.cpp  the operator process, CPU seconds of the dev environment from /proc, the
//                      sampler thread (PostgreSQL connections, roles, RSS)
//   bench_phases.cpp   the phases that are functions of their own: 6. the restart storm, 8. the
//                      raw baseline
//   bench_report.cpp   the table, the time stamp of the output files, MB

#include "bench/bench_common.hpp"

#include <atomic>
#include <map>
#include <string>
#include <sys/types.h>
#include <thread>
#include <utility>
#include <vector>

namespace dbuser::bench {

struct options {
  int n = 1000;
  std::string operator_bin = "build/bin/dbuser-operator";
  std::string raw_bin; // empty: no raw baseline
  std::string out_dir = "bench/out";
  int concurrency = 64;
  int idle_seconds = 60;
  int pool_size = 4;
  std::string perf_file; // perf record of the operator from the first create until all Ready
  bool restart = true;    // the restart storm (step 6)
  // The fairness probe (steps 4 and 7): a user of another namespace during the bulk. With it the
  // operator watches every namespace (its default); without it, --namespace <the bench's>.
  bool fairness_probe = true;
  std::vector<std::string> operator_args; // after --
};

// --- small HTTP client for /readyz and /metrics (bench_metrics.cpp) ----------------------------

int free_port();

std::pair<int, std::string> http_get(int port, const std::string& path);

// Prometheus text → series ("name{labels}") → value.
using series_map = std::map<std::string, double>;

series_map parse_metrics(const std::string& text);

std::map<std::string, double> by_label(const series_map& m, const std::string& family,
                                       const std::string& label);

std::map<std::string, double> minus(std::map<std::string, double> a,
                                    const std::map<std::string, double>& b);

double total(const std::map<std::string, double>& m);

json per_user(const std::map<std::string, double>& m, int n);

// --- the operator process (bench_process.cpp) ---------------------------------------------------

struct operator_proc {
  pid_t pid = -1;
  int port = 0;
  std::string log;
};

operator_proc start_operator(const options& o, const std::string& ns, const std::string& log);

bool alive(pid_t pid);

void stop_operator(operator_proc& p);

std::map<std::string, double> cpu_of_env(pid_t op);

json cpu_delta(const std::map<std::string, double>& a, const std::map<std::string, double>& b);

// --- the sampler (bench_process.cpp) ------------------------------------------------------------

struct sampler {
  std::atomic<bool> stop{false};
  std::atomic<long> peak_conns{0};       // admin connections
  std::atomic<long> peak_login_conns{0}; // login checks, as the users
  std::atomic<long> peak_rss_kb{0};
  std::atomic<long> samples{0};
  std::atomic<long> roles{-1};
  std::atomic<pid_t> pid{-1}; // the operator (a new one after the restart)
  std::thread thread;
  std::string role_prefix;

  void start(pid_t operator_pid);
  void finish();
};

// --- the phases of their own (bench_phases.cpp) -------------------------------------------------

// `expected`: how many PostgresUsers the new operator reconciles at start (N, plus the other
// namespaces' when it watches every namespace).
json restart_storm(const options& o, const std::string& ns, operator_proc& op, sampler& samp,
                   int expected);

json run_raw(const options& o, const std::string& ns);

// --- the report (bench_report.cpp) --------------------------------------------------------------

std::string stamp();

double mb(long kb);

void print_table(const json& r);

} // namespace dbuser::bench
