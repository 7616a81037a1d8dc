// The operator's command-line flags (cmd/flags.hpp): the usage text and the parsing.

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

namespace dbuser_main {

namespace {

const char* usage = R"(usage: dbuser-operator [flags]

  --kubeconfig PATH          kubeconfig to use (default: $KUBECONFIG, else in-cluster config)
  --namespace NS             watch only this namespace (default: all namespaces)
  --listen ADDR              address of the HTTP endpoint (default :8080)
  --log-level LEVEL          trace, debug, info, warn, error (default info)
  --log-format FORMAT        text or json (default text)
  --db-pool-size N           connections per database target (default 4)
  --db-probe-timeout DUR     a target whose job runs over 2s is probed; no answer within this
                             marks it down (default 3s)
  --db-job-timeout DUR       a database job is cut short after this, whatever happens (default 2m)
  --resync-period DURATION   drift check per resource, spread out (default 5m)
  --login-check-period DUR   periodic login check with the generated credentials (default 30m)
  --verify-credentials MODE  how a PostgreSQL check proves the credentials: login (log in),
                             catalog (compare pg_authid's verifier: superuser admins; proves
                             all a login does but pg_hba.conf) or auto (catalog where the admin
                             may read pg_authid, else login; default). status.connection.method
                             says which ran. MariaDB always logs in
  --admin-secret-ttl DUR     how long an admin/CA Secret read is reused (default 10s; 0: never)
  --max-concurrent-reconciles N  reconciles running at once per kind and database target
                             (default 64)
  --kube-qps N, --kube-burst N   client-side rate limit for the API server (default 0: none,
                             as controller-runtime; the API server's priority and fairness
                             protects it, and its 429 Retry-After is honoured)
  --leader-elect             take part in leader election (one active replica)
  --leader-election-namespace NS  namespace of the Lease (default: the in-cluster namespace,
                             else default)
  --leader-election-name NAME     name of the Lease (default dbuser-operator)
  --leader-election-lease-duration DUR  (default 15s)
  --leader-election-renew-deadline DUR  (default 10s)
  --leader-election-retry-period DUR    (default 2s)
  --shards N                 active-active: users are split into N shards, each with a Lease
                             <leader-election-name>-shard-<i>; every replica reconciles the
                             shards it holds (default 1: no shards, as --leader-elect says;
                             docs/sharding.md). Uses the leader-election namespace and timings
  --shard-key KEY            target (default: engine://host:port) or namespace
  --shard-ordinal I          the shard this replica prefers (default: the StatefulSet ordinal
                             at the end of the host name, else one from the process identity)
  --default-password-policy JSON  the password policy of users whose spec.passwordPolicy leaves
                             a field out, e.g. '{"length":40,"symbols":2}' (same fields as
                             spec.passwordPolicy; default: length 32, all four classes, no
                             minimums, symbols -_.~)
  --scram-iterations N       PBKDF2 iterations of the SCRAM verifiers the operator sets (default
                             4096, PostgreSQL's default; the server spends ~1 us per iteration
                             on every password set, and a client on every login that cannot
                             reuse its keys; a non-ASCII password's verifier is libpq's, 4096)
  --install-id ID            this install's identity: the users it claims carry it in the
                             annotation database.example.com/claimed-by, and users claimed by
                             another install are left alone (default: <Lease namespace>/<Lease
                             name>, e.g. dbuser-system/dbuser-operator)
  --release-all              let go of every user this install claims (finalizer and claim
                             removed, no SQL: roles and Secrets stay), then exit; with
                             --namespace, of that namespace only
  --enable-fault-injection   honour the fault-injection annotation (tests only)
  --version, --help
)";

} // namespace


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

dbuser::pg::password_policy password_policy_flag(const std::string& name, const std::string& v) {
  auto j = nlohmann::json::parse(v, nullptr, false);
  if (j.is_discarded())
    bad_flag(name + ": not a JSON object");
  auto spec = dbuser::api::parse_password_policy(j, name);
  if (!spec)
    bad_flag(spec.error());
  auto policy = dbuser::api::effective_policy(dbuser::pg::password_policy{}, *spec, name);
  if (!policy)
    bad_flag(policy.error());
  return *policy;
}

flags parse(int argc, char** argv) {
  // The flags that take a duration, and where each goes.
  static const std::map<std::string, milliseconds flags::*> durations = {
    {"--db-probe-timeout", &flags::db_probe_timeout},
    {"--db-job-timeout", &flags::db_job_timeout},
    {"--resync-period", &flags::resync},
    {"--login-check-period", &flags::login_check},
    {"--leader-election-lease-duration", &flags::lease_duration},
    {"--leader-election-renew-deadline", &flags::renew_deadline},
    {"--leader-election-retry-period", &flags::retry_period}};
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
    if (const auto d = durations.find(a); d != durations.end()) {
      f.*(d->second) = duration_flag(a, next());
    } else if (a == "--help" || a == "-h") {
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
    } else if (a == "--verify-credentials") {
      const std::string v = next();
      if (v == "login")
        f.verify = dbuser::pg::credential_proof::login;
      else if (v == "catalog")
        f.verify = dbuser::pg::credential_proof::catalog;
      else if (v == "auto")
        f.verify = dbuser::pg::credential_proof::automatic;
      else
        bad_flag("--verify-credentials: \"" + v + "\" is not one of login, catalog, auto");
    } else if (a == "--scram-iterations") {
      const long n = number(next());
      if (n > 10000000)
        bad_flag("--scram-iterations: at most 10000000");
      f.scram_iterations = static_cast<int>(n);
    } else if (a == "--max-concurrent-reconciles") {
      f.max_concurrent = static_cast<std::size_t>(number(next()));
      if (f.max_concurrent == 0)
        bad_flag("--max-concurrent-reconciles: must be at least 1");
    } else if (a == "--admin-secret-ttl") {
      const auto v = next();
      f.admin_secret_ttl = v == "0" ? milliseconds(0) : duration_flag(a, v);
    } else if (a == "--kube-qps") {
      f.qps = static_cast<double>(number(next()));
    } else if (a == "--kube-burst") {
      f.burst = static_cast<int>(number(next()));
    } else if (a == "--leader-elect") {
      f.leader_elect = !has_value || value == "true";
    } else if (a == "--leader-election-namespace") {
      f.election_ns = next();
    } else if (a == "--leader-election-name") {
      f.election_name = next();
    } else if (a == "--shards") {
      const long n = number(next());
      if (n > dbuser::api::shard_buckets)
        bad_flag("--shards: at most " + std::to_string(dbuser::api::shard_buckets));
      f.shards = static_cast<int>(n);
    } else if (a == "--shard-key") {
      const std::string v = next();
      auto mode = dbuser::api::parse_shard_key_mode(v);
      if (!mode)
        bad_flag("--shard-key: \"" + v + "\" is not one of target, namespace");
      f.shard_key = *mode;
    } else if (a == "--shard-ordinal") {
      const std::string v = next();
      f.shard_ordinal = v == "0" ? 0 : static_cast<int>(number(v));
    } else if (a == "--default-password-policy") {
      f.password_policy = password_policy_flag(a, next());
    } else if (a == "--install-id") {
      f.install_id = next();
      if (auto why = dbuser::api::install_id_error(f.install_id); !why.empty())
        bad_flag("--install-id: " + why);
    } else if (a == "--release-all") {
      f.release_all = !has_value || value == "true";
    } else if (a == "--enable-fault-injection") {
      f.fault_injection = !has_value || value == "true";
    } else {
      bad_flag("unknown flag " + a);
    }
  }
  if (f.renew_deadline >= f.lease_duration)
    bad_flag("--leader-election-renew-deadline must be shorter than the lease duration");
  if (f.retry_period >= f.renew_deadline)
    bad_flag("--leader-election-retry-period must be shorter than the renew deadline");
  return f;
}

} // namespace dbuser_main
