// dbuser-operator: manages PostgreSQL users declaratively from PostgresUser resources.
//
// main() only parses flags, sets up logging, wires the operator (actors/operator.hpp), the
// introspection actor and HTTP endpoint, and the leader elector, and waits for SIGTERM/SIGINT;
// shutdown releases the Lease (when leading) and finishes or abandons in-flight work within 10 s.

#include "cmd/flags.hpp"

#include "actors/http_endpoint.hpp"
#include "actors/introspection.hpp"
#include "actors/leader_elector.hpp"
#include "actors/operator.hpp"
#include "actors/release_all.hpp"
#include "api/claim.hpp"
#include "api/postgres_user.hpp"
#include "api/shard.hpp"
#include "common/log.hpp"
#include "k8s/config.hpp"
#include "pg/scram.hpp"

#include <nlohmann/json.hpp>

#include <caf/all.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <mutex>
#include <future>
#include <iostream>
#include <malloc.h>
#include <map>
#include <pthread.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <thread>
#include <unistd.h>

namespace {

using namespace std::chrono;
using dbuser_main::bad_flag;
using dbuser_main::flags;

dbuser::expected<dbuser::k8s::config, dbuser::k8s::error> kube_config(const flags& f) {
  if (f.kubeconfig.empty() && std::getenv("KUBECONFIG") == nullptr
      && std::getenv("KUBERNETES_SERVICE_HOST") != nullptr)
    return dbuser::k8s::load_in_cluster();
  return dbuser::k8s::load_kubeconfig(f.kubeconfig);
}

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0)
    return "dbuser-operator";
  return buf;
}

// With --log-format=json every line the process writes is JSON, including what libraries print
// on their own (CAF's "*** unhandled exception ...", anything on stdout): stdout and stderr become
// a pipe, a thread turns each line read from it into a log message of the logger "stderr", and the
// loggers write to the original stderr.
class json_fd_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
  explicit json_fd_sink(int fd) : fd_(fd) {}

protected:
  void sink_it_(const spdlog::details::log_msg& m) override {
    auto t = system_clock::to_time_t(m.time);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[96];
    auto ms = duration_cast<milliseconds>(m.time.time_since_epoch()).count() % 1000;
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    auto level = spdlog::level::to_string_view(m.level);
    std::string line = dbuser::log::json_line(
      stamp, std::string(level.data(), level.size()),
      std::string(m.logger_name.data(), m.logger_name.size()),
      std::string(m.payload.data(), m.payload.size()));
    line += '\n';
    for (std::size_t done = 0; done < line.size();) {
      auto n = ::write(fd_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      done += static_cast<std::size_t>(n);
    }
  }
  void flush_() override {}

private:
  int fd_;
};

class output_capture {
public:
  // Redirects stdout and stderr into the logger; false when a pipe cannot be made.
  bool start() {
    original_ = ::dup(2);
    int p[2];
    if (original_ < 0 || ::pipe2(p, O_CLOEXEC) != 0)
      return false;
    auto sink = std::make_shared<json_fd_sink>(original_);
    auto logger = spdlog::default_logger();
    logger->sinks() = {sink};
    captured_ = std::make_shared<spdlog::logger>("stderr", sink);
    captured_->set_level(spdlog::level::trace);
    std::fflush(stdout);
    std::fflush(stderr);
    ::dup2(p[1], 1);
    ::dup2(p[1], 2);
    ::close(p[1]);
    reader_ = std::thread([this, fd = p[0]] { read_lines(fd); });
    return true;
  }

  // Puts stdout and stderr back and logs what is left in the pipe.
  void finish() {
    if (!reader_.joinable())
      return;
    std::fflush(stdout);
    std::fflush(stderr);
    ::dup2(original_, 1); // closes the pipe's last write ends: the reader sees EOF
    ::dup2(original_, 2);
    reader_.join();
  }

  ~output_capture() { finish(); }

private:
  void read_lines(int fd) {
    std::string pending;
    char buf[4096];
    for (;;) {
      auto n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      pending.append(buf, static_cast<std::size_t>(n));
      for (auto eol = pending.find('\n'); eol != std::string::npos; eol = pending.find('\n')) {
        emit(pending.substr(0, eol));
        pending.erase(0, eol + 1);
      }
    }
    emit(pending);
    ::close(fd);
  }
  void emit(const std::string& line) {
    if (!line.empty() && line.find_first_not_of(" \t\r") != std::string::npos)
      captured_->warn("{}", line);
  }

  int original_ = -1;
  std::shared_ptr<spdlog::logger> captured_;
  std::thread reader_;
};

} // namespace

namespace dbuser_main {

using namespace dbuser::actors;

metric_sources sources_of(const operator_runtime& rt) {
  metric_sources src;
  // The runtime outlives the endpoint (main stops the endpoint first).
  const operator_runtime* runtime = &rt;
  src.counters = [runtime] {
    external_counters c;
    c.kube_requests = runtime->kube()->metrics();
    auto informers = runtime->informer_counters();
    c.watch_restarts = informers.watch_restarts;
    c.relists = informers.relists;
    c.caches_synced = informers.synced;
    return c;
  };
  src.synced = [runtime] { return runtime->synced(); };
  return src;
}

// Gives up the Lease when leading (so a standby takes over at once); waits at most 3 s.
void release_lease(caf::actor_system& sys, const caf::actor& elector) {
  {
    caf::scoped_actor self{sys};
    self->request(elector, seconds(3), dbuser::msg::release_atom::value)
      .receive([](bool) {},
               [&](caf::error& e) {
                 spdlog::warn("leader election: release: {}", sys.render(e));
               });
  }
  // The scoped_actor left CAF's logger in this thread's thread-local; ~actor_system would wait
  // for it forever.
  caf::logger::set_current_actor_system(nullptr);
  caf::anon_send_exit(elector, caf::exit_reason::user_shutdown);
}

// This install's identity: --install-id, else the leader-election Lease's namespace/name (what
// tells two installs apart; the replicas of one install share it), with or without --leader-elect.
std::string install_id_of(const flags& f) {
  if (!f.install_id.empty())
    return f.install_id;
  return dbuser::api::default_install_id(
    f.election_ns.empty() ? default_election_namespace() : f.election_ns, f.election_name);
}

// --release-all: lets go of every user this install claims, then the process exits.
int run_release_all(const flags& f, const dbuser::k8s::config& kube_cfg) {
  dbuser::k8s::client_options o;
  o.qps = f.qps;
  o.burst = f.burst;
  auto kube = dbuser::k8s::client::make(kube_cfg, o);
  if (!kube) {
    spdlog::critical("Kubernetes client: {}", kube.error().to_string());
    return 1;
  }
  const auto id = install_id_of(f);
  spdlog::info("releasing every user claimed by install {} (namespace: {}); no database is "
               "touched",
               id, f.ns.empty() ? "all" : f.ns);
  const auto sum = release_all(**kube, f.ns, id);
  for (const auto& failure : sum.failures)
    spdlog::error("not released: {}", failure);
  spdlog::info("release-all: {} released, {} left alone (claimed by another install, or not "
               "ours), {} failed",
               sum.released, sum.left, sum.failures.size());
  return sum.failures.empty() ? 0 : 1;
}

// --shards N > 1: the shard this replica prefers.
int preferred_shard(const flags& f, const std::string& identity) {
  if (f.shard_ordinal >= 0)
    return f.shard_ordinal % f.shards;
  if (auto ordinal = dbuser::api::ordinal_of(host_name()))
    return *ordinal % f.shards;
  return dbuser::api::bucket_of(identity) % f.shards;
}

// One leader elector per shard Lease. Its own shard at once; the others when seen free for a
// lease duration (so their preferred replicas win while alive) or expired.
std::vector<caf::actor> spawn_shard_electors(caf::actor_system& sys, const flags& f,
                                             operator_runtime& runtime,
                                             const std::shared_ptr<shard_table>& table) {
  std::vector<caf::actor> electors;
  const auto identity = default_identity();
  const int preferred = preferred_shard(f, identity);
  for (int i = 0; i < f.shards; ++i) {
    leader_election_options lo;
    lo.ns = f.election_ns.empty() ? default_election_namespace() : f.election_ns;
    lo.name = dbuser::api::shard_lease_name(f.election_name, i);
    lo.identity = identity;
    lo.lease_duration = f.lease_duration;
    lo.renew_deadline = f.renew_deadline;
    lo.retry_period = f.retry_period;
    lo.patience = i == preferred ? std::chrono::milliseconds(0) : f.lease_duration;
    // The electors end (release_lease) before the runtime does.
    operator_runtime* rt = &runtime;
    electors.push_back(spawn_leader_elector(
      sys, runtime.kube(), lo,
      [rt, table, i](bool held) {
        table->set_held(i, held); // the fence first, then the supervisors
        rt->shard_changed(i, held);
      },
      {}, [table, i](std::chrono::steady_clock::time_point valid_until) { table->renewed(i, valid_until); }));
  }
  spdlog::info("shards: {} (key: {}), this replica prefers shard {}", f.shards,
               f.shard_key == dbuser::api::shard_key_mode::target ? "target" : "namespace",
               preferred);
  return electors;
}

} // namespace dbuser_main

int main(int argc, char** argv) {
  using namespace dbuser_main;
  // Two malloc arenas, not 8 per core: the threads here (CAF, cpprest, informers) allocate in
  // bursts, and every extra arena keeps its own high-water mark (bench/README.md, memory).
  mallopt(M_ARENA_MAX, 2);
  (void)dbuser::k8s::prefer_lazy_system_trust(); // before any thread: it sets SSL_CERT_FILE
  const flags f = parse(argc, argv);
  if (!dbuser::log::setup(f.log_level, f.log_format))
    bad_flag("--log-level or --log-format has an unknown value");
  output_capture capture;
  if (f.log_format == "json" && !capture.start())
    spdlog::warn("cannot capture stdout and stderr: library output may not be JSON");

  // Signals are taken by sigwait() in this thread only: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto kube = kube_config(f);
  if (!kube) {
    spdlog::critical("Kubernetes configuration: {}", kube.error().to_string());
    return 1;
  }

  if (f.release_all) {
    const int code = run_release_all(f, *kube);
    spdlog::default_logger()->flush();
    capture.finish();
    std::fflush(nullptr);
    std::_Exit(code); // as below: cpprestsdk's static destructors are unsafe
  }

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  // Work sharing: idle workers block on a condition variable. CAF 0.17's default work stealing
  // polls and sleeps in 50 µs steps, which cost about a third of the operator's CPU under load
  // (bench/README.md).
  cfg.set("scheduler.policy", caf::atom("sharing"));
  caf::actor_system sys{cfg};

  const bool sharded = f.shards > 1;
  const bool leader_elect = f.leader_elect && !sharded; // shard Leases replace the single one
  std::shared_ptr<shard_table> shards;
  if (sharded)
    shards = std::make_shared<shard_table>(
      f.shards, f.shard_key, f.election_name,
      preferred_shard(f, default_identity()));
  auto introspection = spawn_introspection(sys, leader_elect);
  const auto hooks = hooks_for(introspection);
  operator_config oc;
  oc.kube = *kube;
  oc.kube_options.qps = f.qps;
  oc.kube_options.burst = f.burst;
  oc.watch_namespace = f.ns;
  oc.pool.size = f.pool_size;
  oc.pool.scram_iterations = f.scram_iterations;
  oc.pool.verify_credentials = f.verify;
  oc.pool.probe_timeout = std::max(seconds(2), duration_cast<seconds>(f.db_probe_timeout));
  oc.pool.job_timeout = std::max(duration_cast<seconds>(f.db_job_timeout),
                                 oc.pool.stall_after + oc.pool.probe_timeout + seconds(2));
  oc.settings.resync_period = f.resync;
  oc.settings.login_check_period = f.login_check;
  oc.settings.admin_secret_ttl = f.admin_secret_ttl;
  oc.settings.max_concurrent_reconciles = f.max_concurrent;
  oc.settings.fault_injection = f.fault_injection;
  oc.settings.password_policy = f.password_policy;
  oc.settings.instance = host_name();
  oc.settings.install_id = install_id_of(f);
  oc.start_paused = leader_elect;
  oc.shards = shards;
  oc.on_supervisor_report = hooks.on_supervisor_report;
  oc.on_pool_stats = hooks.on_pool_stats;
  oc.on_queue_stats = hooks.on_queue_stats;
  oc.on_rotation = hooks.on_rotation;
  auto rt = operator_runtime::start(sys, oc);
  if (!rt) {
    spdlog::critical("{}", rt.error());
    caf::anon_send_exit(introspection, caf::exit_reason::user_shutdown);
    return 1;
  }
  auto sources = sources_of(**rt);
  sources.install_id = oc.settings.install_id;
  if (shards)
    sources.shards = [shards] { return shards->snapshot(); };
  caf::anon_send(introspection, dbuser::msg::sources_atom::value, std::move(sources));
  auto endpoint = http_endpoint::start(sys, f.listen, introspection);
  if (!endpoint) {
    spdlog::critical("{}", endpoint.error());
    (*rt)->stop();
    caf::anon_send_exit(introspection, caf::exit_reason::user_shutdown);
    return 1;
  }
  caf::actor elector;
  std::vector<caf::actor> shard_electors;
  if (sharded)
    shard_electors = spawn_shard_electors(sys, f, **rt, shards);
  if (leader_elect) {
    leader_election_options lo;
    lo.ns = f.election_ns.empty() ? default_election_namespace() : f.election_ns;
    lo.name = f.election_name;
    lo.identity = default_identity();
    lo.lease_duration = f.lease_duration;
    lo.renew_deadline = f.renew_deadline;
    lo.retry_period = f.retry_period;
    // The elector ends (release_lease) before the runtime does.
    operator_runtime* runtime = rt->get();
    elector = spawn_leader_elector(
      sys, (*rt)->kube(), lo, [runtime](bool leading) { runtime->pause(!leading); },
      hooks.on_leader);
  }
  spdlog::info("dbuser-operator {} started (install: {}; namespace: {}{})", DBUSER_VERSION,
               oc.settings.install_id, f.ns.empty() ? "all" : f.ns,
               leader_elect ? ", waiting to be the leader"
                            : (sharded ? ", reconciling the shards it holds" : ""));

  // While waiting for a signal, every 30 s hand memory freed since (list responses, reconcile
  // buffers of a burst) back to the system: glibc keeps it otherwise.
  int sig = -1;
  const timespec every{30, 0};
  while ((sig = sigtimedwait(&signals, nullptr, &every)) < 0)
    malloc_trim(0);
  spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  if (elector)
    release_lease(sys, elector);
  for (const auto& e : shard_electors)
    release_lease(sys, e);
  (*endpoint)->stop();
  (*rt)->stop();
  caf::anon_send_exit(introspection, caf::exit_reason::user_shutdown);
  auto all_done = std::async(std::launch::async, [&sys] { sys.await_all_actors_done(); });
  if (all_done.wait_for(seconds(8)) != std::future_status::ready) {
    // Work still running (a slow statement): abandon it; every step is idempotent.
    spdlog::warn("shutdown: abandoning in-flight work");
    spdlog::default_logger()->flush();
    capture.finish();
    std::_Exit(0);
  }
  rt->reset();
  spdlog::info("stopped");
  spdlog::default_logger()->flush();
  capture.finish();
#if defined(__SANITIZE_ADDRESS__)
  return 0; // the sanitizer's leak check runs at exit
#else
  // Everything has stopped; what is left are static destructors, and cpprestsdk's are unsafe: its
  // pooled TLS connections are freed by its thread pool's static destructor after OpenSSL's exit
  // handlers ran, which now and then ends a clean shutdown with SIGSEGV (seen once in the e2e
  // shutdown test; cpprestsdk #1482, #1545). Nothing of ours needs them.
  std::fflush(nullptr);
  std::_Exit(0);
#endif
}
