// dbuser-operator: manages PostgreSQL users declaratively from PostgresUser resources.
//
// main() only parses flags, sets up logging, wires the operator (actors/operator.hpp) and waits
// for SIGTERM/SIGINT; shutdown finishes or abandons in-flight work within 10 s.

#include "actors/operator.hpp"
#include "api/postgres_user.hpp"
#include "common/log.hpp"
#include "k8s/config.hpp"

#include <caf/all.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <future>
#include <iostream>
#include <map>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <thread>
#include <unistd.h>

namespace {

using namespace std::chrono;

const char* usage = R"(usage: dbuser-operator [flags]

  --kubeconfig PATH          kubeconfig to use (default: $KUBECONFIG, else in-cluster config)
  --namespace NS             watch only this namespace (default: all namespaces)
  --listen ADDR              address of the HTTP endpoint (default :8080)
  --log-level LEVEL          trace, debug, info, warn, error (default info)
  --log-format FORMAT        text or json (default text)
  --db-pool-size N           connections per PostgreSQL target (default 4)
  --resync-period DURATION   drift check per resource, spread out (default 5m)
  --login-check-period DUR   periodic login check with the generated credentials (default 30m)
  --kube-qps N, --kube-burst N   client-side rate limit for the API server (default 50, 100)
  --leader-elect             take part in leader election (one active replica)
  --enable-fault-injection   honour the fault-injection annotation (tests only)
  --version, --help
)";

struct flags {
  std::string kubeconfig;
  std::string ns;
  std::string listen = ":8080";
  std::string log_level = "info";
  std::string log_format = "text";
  std::size_t pool_size = 4;
  milliseconds resync = minutes(5);
  milliseconds login_check = minutes(30);
  double qps = 50;
  int burst = 100;
  bool leader_elect = false;
  bool fault_injection = false;
};

[[noreturn]] void bad_flag(const std::string& msg) {
  std::cerr << "dbuser-operator: " << msg << "\n\n" << usage;
  std::exit(2);
}

milliseconds duration_flag(const std::string& name, const std::string& v) {
  auto d = dbuser::api::parse_duration(v);
  if (!d && v.find('.') == std::string::npos)
    bad_flag(name + ": \"" + v + "\" is not a duration such as 30s or 5m");
  if (!d || *d < seconds(1))
    bad_flag(name + ": must be at least 1s");
  return duration_cast<milliseconds>(*d);
}

flags parse(int argc, char** argv) {
  flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    auto next = [&]() -> std::string {
      if (has_value)
        return value;
      if (i + 1 >= argc)
        bad_flag(a + " needs a value");
      return argv[++i];
    };
    auto number = [&](const std::string& v) -> long {
      try {
        size_t used = 0;
        long n = std::stol(v, &used);
        if (used == v.size() && n > 0)
          return n;
      } catch (const std::exception&) {
      }
      bad_flag(a + ": \"" + v + "\" is not a positive number");
    };
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      std::exit(0);
    } else if (a == "--version") {
      std::cout << "dbuser-operator " << DBUSER_VERSION << "\n";
      std::exit(0);
    } else if (a == "--kubeconfig") {
      f.kubeconfig = next();
    } else if (a == "--namespace") {
      f.ns = next();
    } else if (a == "--listen") {
      f.listen = next();
    } else if (a == "--log-level") {
      f.log_level = next();
    } else if (a == "--log-format") {
      f.log_format = next();
    } else if (a == "--db-pool-size") {
      f.pool_size = static_cast<std::size_t>(number(next()));
    } else if (a == "--resync-period") {
      f.resync = duration_flag(a, next());
    } else if (a == "--login-check-period") {
      f.login_check = duration_flag(a, next());
    } else if (a == "--kube-qps") {
      f.qps = static_cast<double>(number(next()));
    } else if (a == "--kube-burst") {
      f.burst = static_cast<int>(number(next()));
    } else if (a == "--leader-elect") {
      f.leader_elect = !has_value || value == "true";
    } else if (a == "--enable-fault-injection") {
      f.fault_injection = !has_value || value == "true";
    } else {
      bad_flag("unknown flag " + a);
    }
  }
  return f;
}

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

} // namespace

int main(int argc, char** argv) {
  const flags f = parse(argc, argv);
  if (!dbuser::log::setup(f.log_level, f.log_format))
    bad_flag("--log-level or --log-format has an unknown value");

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
  if (f.leader_elect)
    spdlog::warn("--leader-elect: leader election is not implemented yet; running as the only "
                 "replica");

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};

  dbuser::actors::operator_config oc;
  oc.kube = *kube;
  oc.kube_options.qps = f.qps;
  oc.kube_options.burst = f.burst;
  oc.watch_namespace = f.ns;
  oc.pool.size = f.pool_size;
  oc.settings.resync_period = f.resync;
  oc.settings.login_check_period = f.login_check;
  oc.settings.fault_injection = f.fault_injection;
  oc.settings.instance = host_name();
  auto rt = dbuser::actors::operator_runtime::start(sys, oc);
  if (!rt) {
    spdlog::critical("{}", rt.error());
    return 1;
  }
  spdlog::info("dbuser-operator {} started (namespace: {})", DBUSER_VERSION,
               f.ns.empty() ? "all" : f.ns);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*rt)->stop();
  auto all_done = std::async(std::launch::async, [&sys] { sys.await_all_actors_done(); });
  if (all_done.wait_for(seconds(8)) != std::future_status::ready) {
    // Work still running (a slow statement): abandon it; every step is idempotent.
    spdlog::warn("shutdown: abandoning in-flight work");
    spdlog::default_logger()->flush();
    std::_Exit(0);
  }
  rt->reset();
  spdlog::info("stopped");
  return 0;
}
