// What `--log-level debug` costs (issue 33: "costs <= 10 % throughput"): the same bulk of
// PostgresUsers created and then deleted, once at the operator's default log level (info) and once
// at debug, in the same environment, back to back; the debug log holds no password, verifier or
// admin credential.
//
// What is asserted is the operator's CPU per user (utime + stime of its process, from the first
// create to all N gone): at debug at most 1.10 x at info, each level's best round. That is
// stricter than the 10 % of throughput. The machine is CPU-bound during a bulk (2 cores;
// kube-apiserver, etcd, PostgreSQL and the operator all busy), so throughput is the cores over the
// CPU that every part spends per user, and the log level changes only the operator's part:
// formatting and writing the log is done by the operator's own threads. The operator is a fraction
// of that CPU: issue 33 measured kube-apiserver ~15 ms and PostgreSQL ~9 ms per user beside the
// operator's, which here is about 11 ms at info: about a third of the whole or less, so 10 % more of
// the operator is 3-4 % of the whole, well inside 10 % of the throughput.
// CPU per user hardly depends on what else runs on the machine (a round slowed by someone else's
// build waits longer, it does not compute more), where wall-clock throughput moves by tens of
// percent with the load: so the test runs beside others (no RUN_SERIAL), and the throughput of
// each round and best debug / best info are reported as WARN lines, not asserted.
//
// Levels alternate, info debug debug info (a load that grows or fades over the test hits both
// alike); each level's figure is its best round (least CPU per user, highest throughput).
// Throughput of a round: N / (first create -> all N Ready + first delete -> all N gone), the bulk
// sent by 4 kubectl processes at once (support/bulk.hpp), as the test's own watch
// (k8s::informer) sees it. DBUSER_LOG_COST_USERS sets N (default 300), DBUSER_LOG_COST_ROUNDS the
// rounds per level (default 2). Logs are JSON, as deploy/ runs the operator.
//
// Measured here (2 cores shared with other work streams, load average 7-10; 300 users, about 95 s):
// operator CPU per user at info 11.07-11.90 ms, at debug 11.13-11.90 ms; best debug / best info
// 1.00-1.07 (logs of ~170 KB at info, ~1.1 MB at debug). Throughput 11.8-15.2 users/s per round,
// best debug / best info 1.01-1.17, alone or beside other e2e tests (ctest -j3).
#include "test/e2e/support/bulk.hpp"
#include "test/e2e/support/prelude.hpp"

#include "k8s/client.hpp"
#include "k8s/config.hpp"
#include "k8s/informer.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <unistd.h>

namespace {

namespace k8s = dbuser::k8s;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : fallback;
}

double since(steady_clock::time_point t) {
  return duration<double>(steady_clock::now() - t).count();
}

// The machine's load averages over 1, 5 and 15 minutes (/proc/loadavg), for the figures.
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

// The names of the namespace's PostgresUsers that are Ready, and how many exist, as a watch sees
// them.
class bulk_watch {
public:
  explicit bulk_watch(const std::string& kubeconfig, const std::string& ns) {
    auto cfg = k8s::load_kubeconfig(kubeconfig);
    REQUIRE(cfg);
    k8s::client_options co;
    co.field_manager = "dbuser-e2e";
    auto c = k8s::client::make(*cfg, co);
    REQUIRE(c);
    client_ = *c;
    k8s::informer_handlers h;
    h.on_add = [this](const json& o) { seen(o); };
    h.on_update = [this](const json&, const json& o) { seen(o); };
    h.on_delete = [this](const json& o) {
      std::lock_guard<std::mutex> l(m_);
      const auto name = o.value("/metadata/name"_json_pointer, "");
      present_.erase(name);
      ready_.erase(name);
      cv_.notify_all();
    };
    informer_ = k8s::informer::make(client_, k8s::resource::postgres_users(), ns, h);
    informer_->start();
    REQUIRE(wait_until([&] { return informer_->synced(); }, seconds(30), milliseconds(50)));
  }
  ~bulk_watch() { informer_->stop(); }
  bulk_watch(const bulk_watch&) = delete;
  bulk_watch& operator=(const bulk_watch&) = delete;

  // Waits until `pred(ready, present)` holds; false after `deadline`.
  template <class Pred> bool wait(milliseconds deadline, Pred pred) {
    std::unique_lock<std::mutex> l(m_);
    return cv_.wait_for(l, deadline, [&] { return pred(ready_.size(), present_.size()); });
  }

private:
  void seen(const json& o) {
    std::lock_guard<std::mutex> l(m_);
    const auto name = o.value("/metadata/name"_json_pointer, "");
    present_.insert(name);
    for (const auto& c : o.value("/status/conditions"_json_pointer, json::array()))
      if (c.value("type", "") == "Ready" && c.value("status", "") == "True")
        ready_.insert(name);
    cv_.notify_all();
  }

  std::shared_ptr<k8s::client> client_;
  std::shared_ptr<k8s::informer> informer_;
  std::mutex m_;
  std::condition_variable cv_;
  std::set<std::string> ready_, present_;
};

struct round_figures {
  std::string level;
  double create_s = 0, delete_s = 0, cpu_ms_per_user = 0;
  [[nodiscard]] double users_per_s(int n) const { return n / (create_s + delete_s); }
};

// One round: an operator at `level` (otherwise its default flags but the log format), the bulk
// created, all Ready; the Secrets' passwords remembered (a debug log is
// checked for them); the bulk deleted, all gone; the operator stopped.
round_figures run_round(e2e_env& env, bulk_watch& watch, const std::string& db,
                        const std::string& level, int n, int round) {
  operator_options o;
  o.kubeconfig = env.k8s.kubeconfig();
  o.ns = env.ns;
  o.log_level = level;
  o.resync_period = "5m";
  env.op = std::make_unique<operator_process>(o);
  env.op->start();

  const std::string prefix = "lc_" + std::to_string(::getpid()) + "_" + std::to_string(round) + "_";
  const auto users = bulk_of_users(env, n, prefix, db);
  const auto limit = milliseconds(1000 * (120 + n / 5));
  round_figures r;
  r.level = level;
  const double cpu0 = cpu_seconds(env.op->pid());
  const auto start = steady_clock::now();
  create_bulk(env.k8s, users.users);
  const auto want = static_cast<std::size_t>(n);
  const bool all_ready =
    watch.wait(limit, [want](std::size_t ready, std::size_t) { return ready == want; });
  r.create_s = since(start);
  REQUIRE(all_ready);

  // Every password the operator generated: none may be in its log (checked after the round).
  const auto secrets = json::parse(env.k8s.must(
    {"get", "secrets", "-n", env.ns, "-l", "app.kubernetes.io/managed-by=dbuser-operator", "-o",
     "json"}));
  for (const auto& s : secrets.value("items", json::array())) {
    const auto data = secret_data(s);
    if (auto p = data.find("password"); p != data.end())
      env.remember_password(p->second);
  }

  const auto del = steady_clock::now();
  REQUIRE(delete_bulk(env.k8s, pguser, env.ns, users.names));
  const bool all_gone =
    watch.wait(limit, [](std::size_t, std::size_t present) { return present == 0; });
  r.delete_s = since(del);
  REQUIRE(all_gone);
  r.cpu_ms_per_user = (cpu_seconds(env.op->pid()) - cpu0) * 1000 / n;
  env.op->stop();
  WARN("--log-level " << level << ", round " << round << ": " << n << " users Ready in "
       << r.create_s << " s, deleted in " << r.delete_s << " s: " << r.users_per_s(n)
       << " users/s; operator CPU " << r.cpu_ms_per_user << " ms per user; log "
       << env.op->log().size() / 1024 << " KB; load average " << load_average());
  return r;
}

} // namespace

TEST_CASE("debug logging costs the operator at most 10 % more CPU per user and logs no secret") {
  const int n = env_int("DBUSER_LOG_COST_USERS", 300);
  const int rounds = env_int("DBUSER_LOG_COST_ROUNDS", 2);
  e2e_options quiet;
  quiet.start_operator = false;
  quiet.resync_period = "5m";
  e2e_env env(quiet);
  bulk_watch watch(env.k8s.kubeconfig(), env.ns);
  // One database for every round, there before the first (as an application's is).
  const auto db = env.database_name("logcost_db");
  env.pg.exec("CREATE DATABASE " + postgres::ident(db));

  // info debug debug info (info debug debug info ... for more rounds).
  std::vector<round_figures> info, debug;
  for (int k = 0; k < rounds; ++k) {
    const bool info_first = k % 2 == 0;
    for (const char* level : info_first ? std::vector<const char*>{"info", "debug"}
                                        : std::vector<const char*>{"debug", "info"}) {
      auto r = run_round(env, watch, db, level, n, static_cast<int>(info.size() + debug.size()));
      if (r.level == "debug") {
        debug.push_back(r);
        // The debug log of the round: no password, verifier or admin credential.
        CHECK_NO_SECRETS_IN_LOG(env);
      } else {
        info.push_back(r);
      }
    }
  }
  auto best_rate = [n](const std::vector<round_figures>& v) {
    double b = 0;
    for (const auto& r : v)
      b = std::max(b, r.users_per_s(n));
    return b;
  };
  auto best_cpu = [](const std::vector<round_figures>& v) {
    double b = v.front().cpu_ms_per_user;
    for (const auto& r : v)
      b = std::min(b, r.cpu_ms_per_user);
    return b;
  };
  const double info_rate = best_rate(info);
  const double debug_rate = best_rate(debug);
  const double info_cpu = best_cpu(info);
  const double debug_cpu = best_cpu(debug);
  WARN("best of " << rounds << " rounds: info " << info_rate << " users/s, " << info_cpu
       << " ms operator CPU per user; debug " << debug_rate << " users/s, " << debug_cpu
       << " ms per user: CPU debug / info = " << debug_cpu / info_cpu
       << ", throughput debug / info = " << debug_rate / info_rate << "; load average "
       << load_average());
  CHECK(debug_cpu <= 1.10 * info_cpu);
}
