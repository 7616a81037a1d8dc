// dbuser-bench: throughput, latency, memory, CPU, PostgreSQL connections and Kubernetes requests
// of the real operator binary managing N PostgresUsers, then deletion of all N, then the raw
// baseline (raw_baseline.cpp) doing the same per-user work directly. See bench/README.md.
//
// Expected flow
//   1. Fresh namespace with the postgres-admin Secret, and a second one (<it>-other) with its own
//      for the fairness probe; leftover bench_ and benchfair_ roles, privilege groups and bench_db
//      dropped; bench_db made with table bench_before (bench_during: halfway in 4).
//   2. The operator starts at its default flags (every namespace; --namespace <it> with
//      --no-fairness-probe; --listen 127.0.0.1:<free port>, --log-level warn, --db-pool-size);
//      the bench waits for /readyz, then idles 5 s: idle RSS.
//   3. The bench's own informers watch PostgresUsers and the operator's Secrets in the namespace,
//      and PostgresUsers in the second one.
//   4. N PostgresUsers are created with `--concurrency` requests in flight; each send time is
//      recorded, and the time the bench's watch sees Ready=True. Fairness probe: once a tenth of
//      them are Ready, one PostgresUser of the second namespace (same server, same database) is
//      created; its apply → Ready=True is the figure (a thread of its own).
//   5. All Ready and all Secrets seen: throughput, latency, CPU, peak RSS, requests per user
//      (operator /metrics, counters before and after); then idle `--idle-seconds`: RSS after.
//   6. Restart storm (skipped with --no-restart): SIGTERM, wait for the exit, a new operator with
//      the same flags; then, from its start, the time until its /metrics count N reconciles ended
//      (every user verified again: each Ready user is reconciled once at start), and over the
//      phase (until 3 s after that, so that writes still in flight are counted) its Kubernetes
//      requests by verb (writes must be 0), the peak PostgreSQL connections, the CPU of the new
//      operator and of PostgreSQL, and the new operator's RSS.
//   7. Every PostgresUser deleted (through the operator): time until all are gone and every role
//      dropped; once a tenth are gone, the fairness probe again (another new user of the second
//      namespace). The operator stops (SIGTERM).
//   8. The raw baseline runs with the same N, pool size and concurrency.
//   9. Cleanup: both namespaces, leftover roles and groups, bench_db. A table, then one
//      `BENCH_JSON {...}` line. The probes are reported, never judged: the bench is not a test.
//
// A sampler thread polls pg_stat_activity (application_name dbuser-operator) and /proc every
// 200 ms during 4-7.

#include "bench/bench_driver.hpp"
#include "bench/bench_pg.hpp"
#include "k8s/informer.hpp"

#include <atomic>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <sys/wait.h>

using namespace dbuser;
using namespace dbuser::bench;
using namespace std::chrono;

namespace {

// --- what the bench's watch sees ----------------------------------------------------------------

bool is_ready(const json& obj) {
  for (const auto& c : obj.value("/status/conditions"_json_pointer, json::array()))
    if (c.value("type", "") == "Ready")
      return c.value("status", "") == "True";
  return false;
}

int index_of(const json& obj, const std::string& prefix) {
  const std::string name = obj.value("/metadata/name"_json_pointer, "");
  if (name.rfind(prefix, 0) != 0)
    return -1;
  try {
    return std::stoi(name.substr(prefix.size()));
  } catch (const std::exception&) {
    return -1;
  }
}

struct observations {
  explicit observations(int n) : sent(n, -1), ready(n, -1), secret(n, -1), gone(n, -1) {}
  std::mutex m;
  std::condition_variable cv;
  std::vector<double> sent, ready, secret, gone; // seconds since t0; -1: not yet
  int n_ready = 0, n_secret = 0, n_gone = 0, create_errors = 0;
  std::map<std::string, double> probe_ready; // fairness probes: name → Ready=True seen (t0)
  std::string first_error;
  clock_type::time_point t0 = clock_type::now();

  void mark(std::vector<double>& v, int i, int& count) {
    std::lock_guard<std::mutex> l(m);
    if (i < 0 || i >= static_cast<int>(v.size()) || v[i] >= 0)
      return;
    v[i] = seconds_since(t0);
    ++count;
    cv.notify_all();
  }
};

// Waits until pred() (checked under the lock) or the deadline; prints progress every 10 s.
template <class Pred>
bool wait_until(observations& ob, seconds deadline, const char* what, Pred pred) {
  const auto end = clock_type::now() + deadline;
  auto next_print = clock_type::now() + seconds(10);
  std::unique_lock<std::mutex> l(ob.m);
  while (!pred()) {
    if (clock_type::now() > end)
      return false;
    ob.cv.wait_for(l, milliseconds(250));
    if (clock_type::now() > next_print) {
      std::cerr << "bench: " << what << ": ready " << ob.n_ready << ", secrets " << ob.n_secret
                << ", gone " << ob.n_gone << " (" << std::fixed << std::setprecision(0)
                << seconds_since(ob.t0) << " s)\n";
      next_print += seconds(10);
    }
  }
  return true;
}

// --- the fairness probe ---------------------------------------------------------------------

// PostgresUsers of every namespace but `ns` (-1: the list failed).
int users_outside(const std::shared_ptr<k8s::client>& kube, const std::string& ns) {
  auto list = call(kube, [&](k8s::callback<json> cb) {
    kube->list_all(k8s::resource::postgres_users(), "", {}, cb);
  });
  if (!list)
    return -1;
  int n = 0;
  for (const auto& item : list->value("items", json::array()))
    if (item.value("/metadata/namespace"_json_pointer, "") != ns)
      ++n;
  return n;
}

struct probe_result {
  double sent_at = -1;         // seconds since t0
  double seconds = -1;         // apply → Ready=True; -1: not Ready within the deadline (or not run)
  int bulk_done_at_send = -1;  // of the bulk: Ready (creation) or gone (deletion) at the apply
  int bulk_done_at_ready = -1; // ... and when the probe was Ready
  std::string error;

  [[nodiscard]] json to_json() const {
    json j{{"seconds", seconds},
           {"sent_at_s", sent_at},
           {"bulk_done_at_send", bulk_done_at_send},
           {"bulk_done_at_ready", bulk_done_at_ready}};
    if (!error.empty())
      j["error"] = error;
    return j;
  }
};

// Once `done()` (read under the lock: the bulk's Ready or gone count) reaches `threshold`, creates
// the probe user `name` (role benchfair_<suffix>, database bench_db) in `probe_ns` and waits up to
// 120 s for the bench's watch to see it Ready. Gives up when the trigger is not reached in
// `trigger_deadline`.
probe_result run_probe(const std::shared_ptr<k8s::client>& kube, observations& ob,
                       const std::string& probe_ns, const std::string& name, int pg_port,
                       const std::function<int()>& done, int threshold, seconds trigger_deadline) {
  probe_result r;
  {
    std::unique_lock<std::mutex> l(ob.m);
    if (!ob.cv.wait_for(l, trigger_deadline, [&] { return done() >= threshold; })) {
      r.error = "the bulk did not reach " + std::to_string(threshold) + " in time";
      return r;
    }
    r.bulk_done_at_send = done();
  }
  const auto role = "benchfair_" + name.substr(name.rfind('-') + 1);
  const auto manifest = user_manifest(probe_ns, name, role, name, pg_port);
  const auto sent = clock_type::now();
  r.sent_at = seconds_since(ob.t0, sent);
  auto created = call(kube, [&](k8s::callback<json> cb) {
    kube->create(k8s::resource::postgres_users(), probe_ns, manifest, cb);
  });
  if (!created) {
    r.error = "create: " + created.error().to_string();
    return r;
  }
  std::unique_lock<std::mutex> l(ob.m);
  if (ob.cv.wait_for(l, seconds(120), [&] { return ob.probe_ready.count(name) > 0; })) {
    r.seconds = ob.probe_ready[name] - r.sent_at;
    r.bulk_done_at_ready = done();
  } else {
    r.error = "not Ready within 120 s";
  }
  return r;
}

options parse(int argc, char** argv) {
  options o;
  bool no_raw = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--n")
      o.n = std::stoi(next());
    else if (a == "--operator")
      o.operator_bin = next();
    else if (a == "--raw-baseline")
      o.raw_bin = next();
    else if (a == "--out-dir")
      o.out_dir = next();
    else if (a == "--concurrency")
      o.concurrency = std::stoi(next());
    else if (a == "--idle-seconds")
      o.idle_seconds = std::stoi(next());
    else if (a == "--db-pool-size")
      o.pool_size = std::stoi(next());
    else if (a == "--no-raw")
      no_raw = true;
    else if (a == "--no-restart")
      o.restart = false;
    else if (a == "--no-fairness-probe")
      o.fairness_probe = false;
    else if (a == "--perf")
      o.perf_file = next();
    else if (a == "--") {
      for (++i; i < argc; ++i)
        o.operator_args.push_back(argv[i]);
    } else
      throw std::runtime_error(
        "unknown flag " + a
        + " (flags: --n N --operator BIN --raw-baseline BIN --out-dir DIR --concurrency C "
          "--idle-seconds S --db-pool-size P --perf FILE --no-raw --no-restart "
          "--no-fairness-probe "
          "[-- operator flags])");
  }
  if (no_raw)
    o.raw_bin.clear();
  if (o.n <= 0 || o.concurrency <= 0)
    throw std::runtime_error("--n and --concurrency must be positive");
  return o;
}

int bench_main(const options& o) {
  auto kube = make_client();
  const std::string ns = "bench-" + std::to_string(std::time(nullptr));
  const std::string probe_ns = ns + "-other"; // the fairness probe's tenant
  const int pg_port = std::stoi(must_env("PGPORT"));
  std::filesystem::create_directories(o.out_dir);
  const std::string tag = stamp() + "-n" + std::to_string(o.n);
  const std::string op_log = o.out_dir + "/operator-" + tag + ".log";

  std::cerr << "bench: dropping leftover bench_ roles and bench_db\n";
  auto drop_bench_roles = [] {
    (void)drop_roles("bench_", {"bench_db", "postgres"});
    (void)drop_roles(probe_roles, {"bench_db", "postgres"});
    (void)drop_roles(bench_groups, {"bench_db", "postgres"});
  };
  drop_bench_roles();
  drop_database("bench_db");
  bench_table("bench_before"); // a table before the run; bench_during is created halfway
  make_namespace(kube, ns, true);
  if (o.fairness_probe)
    make_namespace(kube, probe_ns, true);
  // The operator watches every namespace: what it finds elsewhere is work beside the bench's.
  const int others_at_start = o.fairness_probe ? users_outside(kube, ns) : 0;
  if (others_at_start > 0)
    std::cerr << "bench: " << others_at_start
              << " PostgresUsers in other namespaces: the operator reconciles them too\n";

  observations ob(o.n);
  k8s::informer_handlers uh;
  auto on_user = [&ob](const json& obj) {
    if (is_ready(obj))
      ob.mark(ob.ready, index_of(obj, "bench-"), ob.n_ready);
  };
  uh.on_add = on_user;
  uh.on_update = [on_user](const json&, const json& n) { on_user(n); };
  uh.on_delete = [&ob](const json& obj) { ob.mark(ob.gone, index_of(obj, "bench-"), ob.n_gone); };
  k8s::informer_handlers sh;
  sh.on_add = [&ob](const json& s) { ob.mark(ob.secret, index_of(s, "bench-"), ob.n_secret); };
  k8s::informer_options so;
  so.label_selector = "app.kubernetes.io/managed-by=dbuser-operator";
  k8s::informer_handlers ph;
  auto on_probe = [&ob](const json& obj) {
    if (!is_ready(obj))
      return;
    std::lock_guard<std::mutex> l(ob.m);
    ob.probe_ready.emplace(obj.value("/metadata/name"_json_pointer, ""), seconds_since(ob.t0));
    ob.cv.notify_all();
  };
  ph.on_add = on_probe;
  ph.on_update = [on_probe](const json&, const json& n) { on_probe(n); };
  auto users = k8s::informer::make(kube, k8s::resource::postgres_users(), ns, uh);
  auto secrets = k8s::informer::make(kube, k8s::resource::secrets(), ns, sh, so);
  auto probes = k8s::informer::make(kube, k8s::resource::postgres_users(), probe_ns, ph);
  users->start();
  secrets->start();
  if (o.fairness_probe)
    probes->start();

  auto op = start_operator(o, ns, op_log);
  struct guard {
    operator_proc& p;
    ~guard() { stop_operator(p); }
  } stop_on_exit{op};
  std::cerr << "bench: operator pid " << op.pid << ", log " << op_log << "\n";
  bool endpoint = false;
  for (int i = 0; i < 600 && alive(op.pid); ++i) {
    if (http_get(op.port, "/readyz").first == 200) {
      endpoint = true;
      break;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  if (!alive(op.pid))
    throw std::runtime_error("the operator exited at start; see " + op_log);
  while (!users->synced() || !secrets->synced() || (o.fairness_probe && !probes->synced()))
    std::this_thread::sleep_for(milliseconds(50));
  std::this_thread::sleep_for(seconds(5));
  const auto idle = read_proc(op.pid);
  const auto machine0 = cpu_of_env(op.pid);
  // /metrics answers even when /readyz does not (e.g. an informer of another kind not synced).
  if (!endpoint)
    std::cerr << "bench: /readyz never answered 200; going on\n";
  auto metrics_text = http_get(op.port, "/metrics");
  const bool metrics = metrics_text.first == 200
                       && metrics_text.second.find("dbuser_kube_requests_total") != std::string::npos;
  const auto m0 = parse_metrics(metrics_text.second);

  sampler samp;
  samp.role_prefix = "bench_";
  samp.start(op.pid);

  // Optional: perf record of the operator (cpu-clock works where hardware counters do not).
  pid_t perf = -1;
  if (!o.perf_file.empty()) {
    perf = ::fork();
    if (perf == 0) {
      const std::string pid = std::to_string(op.pid);
      ::execlp("perf", "perf", "record", "-q", "-e", "cpu-clock", "-F", "499", "--call-graph",
               "dwarf,16384", "-p", pid.c_str(), "-o", o.perf_file.c_str(), nullptr);
      ::_exit(127);
    }
    std::this_thread::sleep_for(seconds(1));
  }

  // 4. Create N PostgresUsers.
  std::cerr << "bench: creating " << o.n << " PostgresUsers\n";
  limiter lim(o.concurrency);
  ob.t0 = clock_type::now();
  const int probe_threshold = std::max(1, o.n / 10);
  const auto probe_deadline = seconds(420 + o.n / 4);
  probe_result probe_create, probe_delete;
  std::thread prober;
  struct joiner {
    std::thread& t;
    ~joiner() {
      if (t.joinable())
        t.join();
    }
  } join_prober{prober};
  if (o.fairness_probe)
    prober = std::thread([&] {
      probe_create = run_probe(kube, ob, probe_ns, "fair-create", pg_port,
                               [&ob] { return ob.n_ready; }, probe_threshold, probe_deadline);
    });
  std::atomic<int> created{0};
  for (int i = 0; i < o.n; ++i) {
    if (i == o.n / 2)
      bench_table("bench_during");
    lim.acquire();
    const auto name = user_name("bench", i);
    auto manifest = user_manifest(ns, name, role_name("bench", i), name, pg_port);
    {
      std::lock_guard<std::mutex> l(ob.m);
      ob.sent[i] = seconds_since(ob.t0);
    }
    with_retry(
      kube,
      [kube, ns, manifest](k8s::callback<json> cb) {
        kube->create(k8s::resource::postgres_users(), ns, manifest, cb);
      },
      [&](expected<json, k8s::error> r) {
        if (!r) {
          std::lock_guard<std::mutex> l(ob.m);
          if (ob.create_errors++ == 0)
            ob.first_error = r.error().to_string();
        }
        ++created;
        lim.release();
      });
  }
  lim.drain();
  const double create_seconds = seconds_since(ob.t0);

  // 5. All Ready with Secrets.
  // Refused reconciles wait for the resync (5 min by default): leave room for one.
  const auto deadline = seconds(420 + o.n / 4);
  const bool all_ready = wait_until(ob, deadline, "waiting for Ready", [&] {
    return ob.n_ready == o.n && ob.n_secret == o.n;
  });
  if (prober.joinable())
    prober.join();
  const auto at_ready = read_proc(op.pid);
  if (perf > 0) {
    ::kill(perf, SIGINT);
    int st = 0;
    ::waitpid(perf, &st, 0);
  }
  const auto machine1 = cpu_of_env(op.pid);
  double t_all = 0;
  std::vector<double> latencies, ready_times;
  {
    std::lock_guard<std::mutex> l(ob.m);
    for (int i = 0; i < o.n; ++i) {
      t_all = std::max({t_all, ob.ready[i], ob.secret[i]});
      if (ob.ready[i] >= 0) {
        latencies.push_back(ob.ready[i] - ob.sent[i]);
        ready_times.push_back(std::max(ob.ready[i], ob.secret[i]));
      }
    }
  }
  // When 50/95/99 % of all N were Ready: a tail of a few users (refusals that wait for the
  // resync) shows here and not in the throughput of the bulk.
  auto ready_at = [&](double q) {
    return static_cast<int>(ready_times.size()) == o.n ? quantile(ready_times, q) : 0.0;
  };
  const auto m1 = metrics ? parse_metrics(http_get(op.port, "/metrics").second) : series_map{};
  std::cerr << "bench: " << (all_ready ? "all Ready" : "TIMED OUT waiting for Ready") << " after "
            << t_all << " s; idling " << o.idle_seconds << " s\n";
  std::this_thread::sleep_for(seconds(o.idle_seconds));
  const auto after_idle = read_proc(op.pid);
  const auto m2 = metrics ? parse_metrics(http_get(op.port, "/metrics").second) : series_map{};
  const long rss_peak_run_kb = std::max(read_proc(op.pid).hwm_kb, samp.peak_rss_kb.load());

  // 6. The restart storm.
  const int reconciled_at_start = o.n + (o.fairness_probe ? std::max(0, users_outside(kube, ns)) : 0);
  const json restart = o.restart && all_ready
                         ? restart_storm(o, ns, op, samp, reconciled_at_start)
                         : json{{"skipped", true}};
  const bool restarted = !restart.contains("skipped");
  const double delete_cpu0 = read_proc(op.pid).cpu_s;

  // 7. Delete every PostgresUser through the operator.
  std::cerr << "bench: deleting " << o.n << " PostgresUsers\n";
  const double del0 = seconds_since(ob.t0);
  if (o.fairness_probe)
    prober = std::thread([&] {
      probe_delete = run_probe(kube, ob, probe_ns, "fair-delete", pg_port,
                               [&ob] { return ob.n_gone; }, probe_threshold, probe_deadline);
    });
  for (int i = 0; i < o.n; ++i) {
    if (i == o.n / 2)
      bench_table("bench_during");
    lim.acquire();
    const auto name = user_name("bench", i);
    with_retry(
      kube,
      [kube, ns, name](k8s::callback<json> cb) {
        kube->remove(k8s::object_ref{k8s::resource::postgres_users(), ns, name, ""}, {}, cb);
      },
      [&](expected<json, k8s::error>) { lim.release(); });
  }
  lim.drain();
  const bool all_gone = wait_until(ob, deadline, "waiting for deletion", [&] {
    return ob.n_gone == o.n && samp.roles.load() == 0;
  });
  const double delete_seconds = seconds_since(ob.t0) - del0;
  if (prober.joinable())
    prober.join();
  const auto final_proc = read_proc(op.pid);
  samp.finish();
  stop_operator(op);
  users->stop();
  secrets->stop();
  if (o.fairness_probe)
    probes->stop();

  // 8. The raw baseline.
  json raw = o.raw_bin.empty() ? json{{"error", "not run (no --raw-baseline)"}} : run_raw(o, ns);

  // 9. Cleanup.
  std::cerr << "bench: cleaning up\n";
  delete_namespace(kube, ns);
  if (o.fairness_probe)
    delete_namespace(kube, probe_ns);
  drop_bench_roles();
  drop_database("bench_db");

  const double users_per_s = t_all > 0 ? ob.n_ready / t_all : 0;
  const auto verbs_run = minus(by_label(m1, "dbuser_kube_requests_total", "verb"),
                               by_label(m0, "dbuser_kube_requests_total", "verb"));
  const auto verbs_idle = minus(by_label(m2, "dbuser_kube_requests_total", "verb"),
                                by_label(m1, "dbuser_kube_requests_total", "verb"));
  const auto codes_run = minus(by_label(m1, "dbuser_kube_requests_total", "code"),
                               by_label(m0, "dbuser_kube_requests_total", "code"));
  const auto jobs = total(by_label(m1, "dbuser_db_pool_jobs_total", ""))
                    - total(by_label(m0, "dbuser_db_pool_jobs_total", ""));
  const auto reconciles = minus(by_label(m1, "dbuser_reconciles_total", "result"),
                                by_label(m0, "dbuser_reconciles_total", "result"));
  json r{{"n", o.n},
         {"namespace", ns},
         {"operator", o.operator_bin},
         {"concurrency", o.concurrency},
         {"db_pool_size", o.pool_size},
         {"all_ready", all_ready},
         {"ready", ob.n_ready},
         {"create_errors", ob.create_errors},
         {"create_seconds", create_seconds},
         {"create_rate", create_seconds > 0 ? o.n / create_seconds : 0},
         {"seconds_to_all_ready", t_all},
         {"users_per_s", users_per_s},
         {"seconds_to_ready_fraction",
          {{"p50", ready_at(0.5)}, {"p95", ready_at(0.95)}, {"p99", ready_at(0.99)}}},
         {"users_per_s_first_95pct", ready_at(0.95) > 0 ? 0.95 * o.n / ready_at(0.95) : 0},
         {"latency_ms", latency_summary_ms(latencies)},
         {"rss_idle_mb", mb(idle.rss_kb)},
         {"rss_peak_mb", mb(std::max(rss_peak_run_kb, restarted ? 0L : final_proc.hwm_kb))},
         {"rss_at_all_ready_mb", mb(at_ready.rss_kb)},
         {"rss_after_idle_mb", mb(after_idle.rss_kb)},
         {"idle_seconds", o.idle_seconds},
         {"memory_per_user_kb",
          static_cast<double>(std::max(at_ready.rss_kb, after_idle.rss_kb) - idle.rss_kb) / o.n},
         {"cpu_seconds_run", at_ready.cpu_s - idle.cpu_s},
         {"cpu_seconds_idle_period", after_idle.cpu_s - at_ready.cpu_s},
         {"cpu_seconds_delete", final_proc.cpu_s - delete_cpu0},
         {"cpu_seconds_total",
          final_proc.cpu_s + restart.value("previous_operator_cpu_seconds", 0.0)},
         {"cpu_ms_per_user", (at_ready.cpu_s - idle.cpu_s) * 1000 / o.n},
         {"pg_connections_peak", samp.peak_conns.load()},
         {"pg_login_check_connections_peak", samp.peak_login_conns.load()},
         {"metrics_available", metrics},
         {"kube_requests_per_user", total(verbs_run) / o.n},
         {"kube_requests_per_user_by_verb", per_user(verbs_run, o.n)},
         {"kube_requests_by_code", per_user(codes_run, 1)},
         {"kube_requests_idle", total(verbs_idle)},
         {"kube_requests_idle_by_verb", per_user(verbs_idle, 1)},
         {"db_jobs_per_user", jobs / o.n},
         {"reconciles_per_user", per_user(reconciles, o.n)},
         {"all_deleted", all_gone},
         {"delete_seconds", delete_seconds},
         {"delete_users_per_s", delete_seconds > 0 ? o.n / delete_seconds : 0},
         {"fairness_probe_create_s", probe_create.seconds},
         {"fairness_probe_delete_s", probe_delete.seconds},
         {"fairness_probe",
          {{"run", o.fairness_probe},
           {"namespace", o.fairness_probe ? probe_ns : ""},
           {"after_bulk_done", probe_threshold},
           {"create", probe_create.to_json()},
           {"delete", probe_delete.to_json()}}},
         {"other_postgresusers_at_start", others_at_start},
         {"machine_cpu_seconds_run", cpu_delta(machine0, machine1)},
         {"restart", restart},
         {"raw", raw},
         {"operator_log", op_log}};
  if (!ob.first_error.empty())
    r["first_create_error"] = ob.first_error;
  const double raw_rate = raw.value("users_per_s", 0.0);
  r["raw_users_per_s"] = raw_rate;
  r["ratio_operator_over_raw"] = users_per_s > 0 && raw_rate > 0 ? raw_rate / users_per_s : 0;

  print_table(r);
  std::cout << "BENCH_JSON " << r.dump() << std::endl;
  std::ofstream(o.out_dir + "/bench-" + tag + ".json") << r.dump() << "\n";
  const bool restart_ok = !restarted
                          || (restart["verified_all"].get<bool>()
                              && restart["kube_writes"].get<double>() == 0);
  return all_ready && all_gone && ob.create_errors == 0 && restart_ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return bench_main(parse(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "dbuser-bench: " << e.what() << "\n";
    return 2;
  }
}
