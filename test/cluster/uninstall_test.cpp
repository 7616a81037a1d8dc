// Uninstalling, reinstalling, moving to the Helm chart and deleting namespaces on the dev cluster
// (hack/cluster-up.sh), as docs/install.md tells a person to: kubectl and helm against the
// operator running as Pods, the namespace controller of kube-controller-manager, garbage
// collection. PostgreSQL's own record is the witness of what happened to the roles: their oid
// (a role dropped and made again has another), their verifier, a login with the password the
// Secret held, and the server log of every DDL statement while nothing that carries a verifier
// is expected (ddl_log).
//
// Every case runs alone (RUN_SERIAL): the operator of deploy/default watches every namespace, the
// uninstall deletes the CRDs, and the DDL log is server-wide.
#include "test/cluster/operator_install.hpp"
#include "test/e2e/support/checks.hpp"
#include "test/e2e/support/e2e_env.hpp"
#include "test/support/dev_env.hpp"
#include "test/support/wait.hpp"

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono;
using namespace dbuser::test::cluster;
using namespace dbuser::test::e2e;
using dbuser::test::dev_env;
using dbuser::test::unique_name;
using dbuser::test::wait_until;
using nlohmann::json;

namespace {

constexpr int users_per_case = 20;
constexpr const char* crd = "customresourcedefinitions.apiextensions.k8s.io";
constexpr const char* crd_name = "postgresusers.database.example.com";
constexpr const char* released_by = "database.example.com/released-by";
constexpr const char* retain_prefix = "to leave the role instead: ";

e2e_options without_operator() {
  e2e_options o;
  o.start_operator = false;
  return o;
}

std::string source_dir() { return DBUSER_SOURCE_DIR; }

double seconds_since(steady_clock::time_point start) {
  return duration<double>(steady_clock::now() - start).count();
}

// One PostgresUser of a case and what PostgreSQL and its Secret said about it while Ready.
struct managed_user {
  std::string name, role, secret;
  bool retain = false;
  std::string oid, verifier, password, secret_version;
};

std::vector<managed_user> make_users(e2e_env& env, const std::string& tag, bool half_retain) {
  std::vector<managed_user> users;
  for (int i = 0; i < users_per_case; ++i) {
    const auto n = tag + std::to_string(i);
    users.push_back({env.object_name(n), env.role_name(n), env.object_name(n + "-creds"),
                     half_retain && i % 2 == 1, "", "", "", ""});
  }
  return users;
}

// The users as one List (one kubectl apply), pointing at the gateway and `port`.
json users_list(const e2e_env& env, const std::vector<managed_user>& users,
                const std::string& database, int port) {
  json list{{"apiVersion", "v1"}, {"kind", "List"}, {"items", json::array()}};
  for (const auto& u : users) {
    auto m = user_in_cluster(env, u.name, u.role, database, u.secret);
    m["spec"]["port"] = port;
    if (u.retain)
      m["spec"]["deletionPolicy"] = "Retain";
    list["items"].push_back(m);
  }
  return list;
}

json ready_condition(const json& user) {
  for (const auto& c : user.value("/status/conditions"_json_pointer, json::array()))
    if (c.value("type", "") == "Ready")
      return c;
  return json::object();
}

bool is_ready(const json& user) { return ready_condition(user).value("status", "") == "True"; }

// Waits until every user of the namespace is Ready; false (with a description) when not.
bool wait_all_ready(const e2e_env& env, std::size_t n, seconds deadline) {
  std::size_t ready = 0;
  const bool ok = wait_until(
    [&] {
      ready = 0;
      for (const auto& u : env.k8s.list(pguser, env.ns))
        ready += is_ready(u) ? 1 : 0;
      return ready == n;
    },
    deadline, milliseconds(500));
  if (!ok)
    UNSCOPED_INFO(ready << " of " << n << " Ready after " << deadline.count() << " s");
  return ok;
}

std::string role_oid(const postgres& pg, const std::string& role) {
  auto c = pg.admin();
  pqxx::nontransaction tx(c);
  auto r = tx.exec("SELECT oid::text FROM pg_roles WHERE rolname = " + tx.quote(role));
  return r.empty() ? "" : r[0][0].as<std::string>();
}

// Records what the role and the Secret are now (the Secret's password is remembered by env).
void record(e2e_env& env, std::vector<managed_user>& users) {
  for (auto& u : users) {
    u.oid = role_oid(env.pg, u.role);
    u.verifier = env.pg.role(u.role).value().verifier;
    u.password = env.secret(u.secret).value().at("password");
    u.secret_version =
      env.k8s.get("secret", env.ns, u.secret)->value("/metadata/resourceVersion"_json_pointer, "");
  }
}

// The role is the one recorded: not dropped and made again (same oid), same password (verifier),
// and the password the Secret held logs in.
void check_role_kept(const e2e_env& env, const managed_user& u, const std::string& database) {
  INFO("role " << u.role);
  CHECK(role_oid(env.pg, u.role) == u.oid);
  auto role = env.pg.role(u.role);
  REQUIRE(role);
  CHECK(role->can_login);
  const bool same_password = role->verifier == u.verifier; // never printed
  CHECK(same_password);
  const bool logs_in = env.pg.login_error(u.role, u.password, database).empty();
  CHECK(logs_in);
}

// PostgreSQL logs every DDL statement while this lives (ALTER SYSTEM SET log_statement = 'ddl',
// reloaded: every session, the operator's pooled ones included, applies it before its next
// statement). Used only while no statement carrying a verifier is expected (no role made, no
// password set): such a statement would be logged with its verifier.
class ddl_log {
public:
  explicit ddl_log(const postgres& pg) : pg_(pg) {
    pg_.exec("ALTER SYSTEM SET log_statement = 'ddl'");
    pg_.exec("SELECT pg_reload_conf()");
    // A DDL statement of the test's own shows in the log once the setting took effect.
    const auto marker = unique_name("ddl_probe");
    const bool on = wait_until(
      [&] {
        pg_.exec("CREATE TEMP TABLE " + postgres::ident(marker) + " ()");
        return since_start().find(marker) != std::string::npos;
      },
      seconds(20), milliseconds(200));
    if (!on)
      throw std::runtime_error("log_statement = 'ddl' did not take effect");
  }
  ~ddl_log() {
    try {
      pg_.exec("ALTER SYSTEM RESET log_statement");
      pg_.exec("SELECT pg_reload_conf()");
    } catch (const std::exception& e) {
      std::cerr << "resetting log_statement: " << e.what() << "\n";
    }
  }
  ddl_log(const ddl_log&) = delete;
  ddl_log& operator=(const ddl_log&) = delete;

  [[nodiscard]] std::string since_start() const { return log_.since_start(); }
  // How many logged statements name the role (quoted, as the operator writes identifiers).
  [[nodiscard]] std::size_t naming(const std::string& role, const std::string& prefix = "") const {
    const auto log = since_start();
    const auto needle = prefix + "\"" + role + "\"";
    std::size_t n = 0;
    for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1))
      ++n;
    return n;
  }

private:
  const postgres& pg_;
  server_log log_; // from before log_statement was set
};

// A TCP forwarder from the gateway (where Pods reach this machine) to the dev PostgreSQL: a
// database server of the case's own that can become unreachable (stop: the listener and every
// forwarded connection go, new connections are refused) without touching the shared one.
class tcp_forwarder {
public:
  tcp_forwarder(const std::string& bind, int to_port) : port_(free_tcp_port()) {
    pid_ = fork();
    if (pid_ == 0) {
      setsid(); // its own process group: stop() ends the forked connections with it
      const auto listen = "TCP-LISTEN:" + std::to_string(port_) + ",bind=" + bind
                          + ",fork,reuseaddr";
      const auto target = "TCP:127.0.0.1:" + std::to_string(to_port);
      execlp("socat", "socat", listen.c_str(), target.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    const bool up = wait_until(
      [&] { return run({"socat", "-u", "OPEN:/dev/null", "TCP:" + bind + ":" + std::to_string(port_)}).ok(); },
      seconds(10), milliseconds(100));
    if (!up)
      throw std::runtime_error("socat did not listen on " + bind + ":" + std::to_string(port_));
  }
  ~tcp_forwarder() { stop(); }
  tcp_forwarder(const tcp_forwarder&) = delete;
  tcp_forwarder& operator=(const tcp_forwarder&) = delete;
  [[nodiscard]] int port() const { return port_; }
  void stop() {
    if (pid_ <= 0)
      return;
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

private:
  int port_;
  pid_t pid_ = -1;
};

// The Warning Events about the Namespace (recorded in `default`, where Events about
// cluster-scoped objects go), as "Reason: message" lines.
std::vector<std::string> namespace_warnings(const kube& k8s, const std::string& ns) {
  std::vector<std::string> out;
  for (const auto& e : k8s.events("default", ns, "Warning"))
    if (e.value("/involvedObject/kind"_json_pointer, "") == "Namespace")
      out.push_back(e.value("reason", "") + ": " + e.value("message", ""));
  return out;
}

std::string namespace_condition(const kube& k8s, const std::string& ns, const std::string& type) {
  auto n = k8s.get("namespace", "", ns);
  for (const auto& c : n.value_or(json()).value("/status/conditions"_json_pointer, json::array()))
    if (c.value("type", "") == type && c.value("status", "") == "True")
      return c.value("message", "");
  return "";
}

// A shell command as a person pastes it (the condition's), run with the dev kubeconfig.
exec_result paste(const kube& k8s, const std::string& command) {
  return run({"sh", "-c", command}, "", {{"KUBECONFIG", k8s.kubeconfig()}});
}

std::string helm_binary() {
  if (const char* d = std::getenv("DBUSER_BIN_DIR"))
    return std::string(d) + "/helm";
  if (const char* x = std::getenv("XDG_CACHE_HOME"))
    return std::string(x) + "/dbuser-operator/bin/helm";
  return std::string(std::getenv("HOME")) + "/.cache/dbuser-operator/bin/helm";
}

exec_result helm(const kube& k8s, std::vector<std::string> args) {
  args.insert(args.begin(), helm_binary());
  return run(args, "", {{"KUBECONFIG", k8s.kubeconfig()}});
}

// Whatever happens, the dev API server keeps its CRDs (every other test needs them): applied
// again if this case deleted them (a deletion still waiting is finished by hand first: only what
// the operator did not release is left, and removing a finalizer touches no database).
struct crds_back {
  const kube& k8s;
  ~crds_back() {
    try {
      if (auto c = k8s.get(crd, "", crd_name); c && c->contains("/metadata/deletionTimestamp"_json_pointer)) {
        const auto left = k8s.kubectl({"get", pguser, "-A", "-o", "json"});
        for (const auto& item : left.ok() ? json::parse(left.out).value("items", json::array())
                                          : json::array())
          (void)k8s.kubectl({"patch", pguser, "-n",
                             item.value("/metadata/namespace"_json_pointer, std::string()),
                             item.value("/metadata/name"_json_pointer, std::string()),
                             "--type=merge", "-p", R"({"metadata":{"finalizers":null}})"});
        (void)wait_until([&] { return !k8s.get(crd, "", crd_name); }, seconds(60));
      }
      (void)k8s.kubectl({"apply", "--server-side", "--force-conflicts", "--field-manager=dbuser-dev",
                         "-k", source_dir() + "/deploy/crd"});
      (void)k8s.kubectl({"wait", "--for=condition=Established", "--timeout=60s",
                         std::string(crd) + "/" + crd_name});
    } catch (const std::exception& e) {
      std::cerr << "reinstalling the CRDs: " << e.what() << "\n";
    }
  }
};

} // namespace

TEST_CASE("an uninstall as documented (release, kubectl delete -k of the operator, then of the "
          "CRDs) keeps every role, password and Secret, and a reinstall adopts them unchanged") {
  e2e_env env(without_operator());
  crds_back guard{env.k8s};
  const auto& cl = cluster_env::get();
  // Installed as the README says: the CRDs, then the operator.
  env.k8s.must({"apply", "-k", source_dir() + "/deploy/crd"});
  auto op = std::make_unique<operator_install>(env.k8s, "default");
  INFO(op->describe());
  const auto database = env.database_name("uninst_db");
  auto users = make_users(env, "un", false); // deletionPolicy Delete, the default
  REQUIRE(env.k8s.apply(users_list(env, users, database, env.pg.port()), env.ns).ok());
  REQUIRE(wait_all_ready(env, users.size(), seconds(120)));
  record(env, users);

  auto steps = steady_clock::now();
  {
    ddl_log log(env.pg);
    // docs/install.md, "Uninstall": 1. release, 2. the operator, then the CRDs.
    env.k8s.must({"apply", "-k", cl.overlays + "/release-all"});
    env.k8s.must({"wait", "-n", operator_ns, "--for=condition=complete",
                  "job/dbuser-operator-release-all", "--timeout=5m"});
    env.k8s.must({"delete", "-k", cl.overlays + "/release-all"});
    const double release = seconds_since(steps);
    steps = steady_clock::now();
    env.k8s.must({"delete", "-k", cl.overlays + "/default"});
    op->keep_running(); // gone already
    op.reset();
    const double operator_gone = seconds_since(steps);
    steps = steady_clock::now();
    auto crds_deleted = env.k8s.kubectl({"delete", "-k", source_dir() + "/deploy/crd",
                                         "--timeout=120s"});
    INFO("kubectl delete -k deploy/crd: " << crds_deleted.err << "; PostgresUsers left: "
                                          << env.k8s.kubectl({"get", pguser, "-A"}).out);
    REQUIRE(crds_deleted.ok());
    const double crds_gone = seconds_since(steps);
    std::cout << "uninstall: release Job " << release << " s, kubectl delete -k of the operator "
              << operator_gone << " s, of the CRDs " << crds_gone << " s" << std::endl;

    // Nothing ran on any role; every Secret is still there (released: garbage collection, which
    // runs here, has no owner to follow), with its password.
    for (const auto& u : users) {
      check_role_kept(env, u, database);
      CHECK(log.naming(u.role) == 0);
      auto s = env.k8s.get("secret", env.ns, u.secret);
      REQUIRE(s);
      CHECK(s->value("/metadata/ownerReferences"_json_pointer, json::array()).empty());
      CHECK(s->value("/metadata/annotations"_json_pointer, json::object()).value(released_by, "")
            == env.ns + "/" + u.name);
      CHECK(secret_data(*s).at("password") == u.password);
    }
  }

  // Installed again, the same users applied again: adopted, nothing changed.
  steps = steady_clock::now();
  env.k8s.must({"apply", "-k", source_dir() + "/deploy/crd"});
  env.k8s.must({"wait", "--for=condition=Established", "--timeout=60s",
                std::string(crd) + "/" + crd_name});
  op = std::make_unique<operator_install>(env.k8s, "default");
  REQUIRE(env.k8s.apply(users_list(env, users, database, env.pg.port()), env.ns).ok());
  REQUIRE(wait_all_ready(env, users.size(), seconds(120)));
  std::cout << "reinstall: CRDs, operator and " << users.size() << " users applied, all Ready in "
            << seconds_since(steps) << " s" << std::endl;
  for (const auto& u : users) {
    check_role_kept(env, u, database);
    auto s = env.k8s.get("secret", env.ns, u.secret);
    REQUIRE(s);
    CHECK(secret_data(*s).at("password") == u.password);
    CHECK(s->value("/metadata/ownerReferences/0/uid"_json_pointer, std::string())
          == env.user(u.name)->value("/metadata/uid"_json_pointer, std::string()));
    CHECK(env.login_with_secret(u.secret).empty());
  }
}

TEST_CASE("moving from the kustomize install to the Helm chart as docs/install.md says keeps "
          "every role and Secret as they were") {
  e2e_env env(without_operator());
  const auto& cl = cluster_env::get();
  operator_install op(env.k8s, "default");
  INFO(op.describe());
  const auto database = env.database_name("helm_db");
  auto users = make_users(env, "hm", false);
  REQUIRE(env.k8s.apply(users_list(env, users, database, env.pg.port()), env.ns).ok());
  REQUIRE(wait_all_ready(env, users.size(), seconds(120)));
  record(env, users);
  // The release is removed whatever happens (the next test installs with kustomize).
  struct helm_release {
    const kube& k8s;
    ~helm_release() {
      (void)helm(k8s, {"uninstall", "dbuser-operator", "--namespace", operator_ns, "--wait",
                       "--timeout", "60s"});
    }
  } release{env.k8s};

  auto log = std::make_unique<ddl_log>(env.pg);
  const auto start = steady_clock::now();
  // docs/install.md, "Moving from kustomize to the Helm chart" (-f: this cluster's image and
  // API server address, as the overlays set them).
  env.k8s.must({"delete", "-k", cl.overlays + "/default"});
  auto r = helm(env.k8s, {"install", "dbuser-operator", source_dir() + "/deploy/chart",
                          "--namespace", operator_ns, "--create-namespace", "-f", cl.helm_values});
  INFO("helm install: " << r.out << r.err);
  REQUIRE(r.ok());
  REQUIRE(op.wait_rolled_out(seconds(120)));
  const double switched = seconds_since(start);
  // The chart's leader has been through every user once.
  REQUIRE(wait_until(
    [&] {
      for (const auto& p : op.pods())
        if (p["metadata"]["name"] == op.current_leader()) {
          auto done = op.metric(p, "dbuser_reconciles_total{result=\"success\"}");
          return done && *done >= users.size();
        }
      return false;
    },
    seconds(60), milliseconds(500)));
  std::cout << "kustomize -> Helm: operator deleted, chart installed and rolled out in "
            << switched << " s; every user reconciled by the chart's operator after "
            << seconds_since(start) << " s" << std::endl;
  for (const auto& u : users) {
    INFO(u.name);
    check_role_kept(env, u, database);
    CHECK(log->naming(u.role) == 0);
    auto s = env.k8s.get("secret", env.ns, u.secret);
    REQUIRE(s);
    CHECK(s->value("/metadata/resourceVersion"_json_pointer, "") == u.secret_version);
    auto obj = env.user(u.name);
    REQUIRE(obj);
    CHECK(is_ready(*obj));
    CHECK(obj->value("/metadata/annotations"_json_pointer, json::object())
              .value("database.example.com/claimed-by", "")
          == "dbuser-system/dbuser-operator");
  }
  log.reset(); // a new role's verifier is not for the server log
  // The chart's operator serves new users too.
  const auto extra = env.object_name("after-helm");
  env.apply(user_in_cluster(env, extra, env.role_name("after_helm"), database,
                            env.object_name("after-helm-creds")));
  REQUIRE_READY(env, extra, seconds(60));
}

TEST_CASE("deleting namespaces: each role dropped or kept as its user asks, and a namespace whose "
          "server is unreachable shows why it waits and goes once the command its users show "
          "is run") {
  // Two namespaces of 20 users, deleted at the same time: `kept` on the dev PostgreSQL, half of
  // them with deletionPolicy Retain; `down` through a forwarder that is stopped first.
  e2e_env kept(without_operator());
  e2e_env down(without_operator());
  const auto& cl = cluster_env::get();
  operator_install op(kept.k8s, "default");
  INFO(op.describe());
  tcp_forwarder server(cl.gateway, kept.pg.port());
  const auto kept_db = kept.database_name("nsdel_db");
  const auto down_db = down.database_name("nsdown_db");
  auto kept_users = make_users(kept, "nk", true);
  auto down_users = make_users(down, "nd", false);
  REQUIRE(kept.k8s.apply(users_list(kept, kept_users, kept_db, kept.pg.port()), kept.ns).ok());
  REQUIRE(down.k8s.apply(users_list(down, down_users, down_db, server.port()), down.ns).ok());
  REQUIRE(wait_all_ready(kept, kept_users.size(), seconds(120)));
  REQUIRE(wait_all_ready(down, down_users.size(), seconds(120)));
  record(kept, kept_users);
  record(down, down_users);

  ddl_log log(kept.pg);
  server.stop();
  const auto start = steady_clock::now();
  kept.k8s.must({"delete", "namespace", kept.ns, "--wait=false"});
  kept.k8s.must({"delete", "namespace", down.ns, "--wait=false"});

  // `kept` goes within 60 s, whatever `down` waits for.
  CHECK(wait_until([&] { return !kept.k8s.get("namespace", "", kept.ns); }, seconds(60),
                   milliseconds(250)));
  const double kept_gone = seconds_since(start);
  for (const auto& u : kept_users) {
    INFO(u.name << (u.retain ? " (Retain)" : " (Delete)"));
    if (u.retain) {
      check_role_kept(kept, u, kept_db);
      CHECK(log.naming(u.role) == 0);
    } else {
      CHECK_FALSE(kept.pg.role_exists(u.role));
      CHECK(log.naming(u.role, "DROP ROLE IF EXISTS ") == 1);
    }
  }

  // `down` waits, and says why: the users' condition (with the command that lets each go), a
  // Warning Event about the Namespace (none can be made inside a namespace being deleted), and
  // the namespace's own condition.
  std::map<std::string, std::string> commands; // user -> the command its condition shows
  const bool explained = wait_until(
    [&] {
      for (const auto& u : down.k8s.list(pguser, down.ns)) {
        const std::string msg = ready_condition(u).value("message", "");
        const auto at = msg.find(retain_prefix);
        if (u.contains("/metadata/deletionTimestamp"_json_pointer) && at != std::string::npos)
          commands[u["metadata"]["name"]] = msg.substr(at + std::string(retain_prefix).size());
      }
      return commands.size() == down_users.size();
    },
    seconds(60), milliseconds(500));
  const double shown = seconds_since(start);
  INFO(commands.size() << " of " << down_users.size() << " users show the command");
  REQUIRE(explained);
  for (const auto& u : down_users) {
    INFO(u.name);
    const auto ready = down.ready(u.name);
    CHECK(ready.status == "False");
    CHECK(ready.reason == "Deleting");
    CHECK(ready.message.find("cannot drop role " + u.role) == 0);
    CHECK(commands[u.name]
          == "kubectl patch postgresusers " + u.name + " -n " + down.ns
               + R"( --type merge -p '{"spec":{"deletionPolicy":"Retain"}}')");
  }
  std::vector<std::string> events;
  CHECK(wait_until(
    [&] {
      events = namespace_warnings(down.k8s, down.ns);
      return events.size() >= down_users.size();
    },
    seconds(30), milliseconds(500)));
  for (const auto& e : events)
    UNSCOPED_INFO(e);
  const auto remaining = namespace_condition(down.k8s, down.ns, "NamespaceFinalizersRemaining");
  CHECK(remaining.find("database.example.com/finalizer in " + std::to_string(down_users.size()))
        != std::string::npos);
  CHECK(down.k8s.get("namespace", "", down.ns).has_value());

  // The commands, pasted as shown for half of the users, then docs/install.md's form for every
  // user of a namespace: the namespace goes, every role stays as it was.
  const auto commands_start = steady_clock::now();
  std::size_t pasted = 0;
  for (const auto& [name, command] : commands) {
    if (++pasted > commands.size() / 2)
      break;
    auto r = paste(down.k8s, command);
    INFO(command << ": " << r.err);
    CHECK(r.ok());
  }
  const auto all = "kubectl get postgresusers -n " + down.ns + " -o name | xargs -r -I{} kubectl "
                   "patch {} -n " + down.ns + R"( --type merge -p '{"spec":{"deletionPolicy":"Retain"}}')";
  auto r = paste(down.k8s, all);
  INFO(all << ": " << r.err);
  // A user that went between the list and its patch is a NotFound, and nothing else fails.
  std::istringstream errors(r.err);
  for (std::string line; std::getline(errors, line);)
    CHECK(line.find("not found") != std::string::npos);
  CHECK(wait_until([&] { return !down.k8s.get("namespace", "", down.ns); }, seconds(60),
                   milliseconds(250)));
  const double down_gone = seconds_since(commands_start);
  for (const auto& u : down_users) {
    check_role_kept(down, u, down_db);
    CHECK(log.naming(u.role) == 0);
  }
  std::cout << "namespace deletion: " << kept_users.size() << " users (half Retain) gone in "
            << kept_gone << " s; unreachable server: the command shown on every user after "
            << shown << " s, " << events.size() << " Warning Events on the Namespace; the "
            << commands.size() << " commands run, namespace gone " << down_gone << " s later"
            << std::endl;
}
