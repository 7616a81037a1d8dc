// Who may point the operator where (issue 22): DatabaseTargetPolicies, cluster-scoped, say which
// namespaces (by label) may use which targets. A user whose target no rule allows is refused with
// TargetNotAllowed before anything connects: PostgreSQL's own connection log is the witness.
//
// Policies are cluster-wide: while one exists every operator of this dev environment enforces
// it, so these tests run alone (RUN_SERIAL) and delete their policies however they end.
#include "test/e2e/support/prelude.hpp"
#include "test/support/dev_env.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

using dbuser::test::dev_env;
using dbuser::test::unique_name;

namespace {

constexpr const char* policy_kind = "databasetargetpolicies.database.example.com";

// A DatabaseTargetPolicy that exists for the test's lifetime.
class policy {
public:
  policy(const kube& k8s, json rules) : k8s_(k8s), name_(unique_name("policy")) {
    set_rules(std::move(rules));
  }
  ~policy() { k8s_.remove(policy_kind, "", name_); }
  policy(const policy&) = delete;
  policy& operator=(const policy&) = delete;

  void set_rules(json rules) const {
    json p{{"apiVersion", "database.example.com/v1alpha1"},
           {"kind", "DatabaseTargetPolicy"},
           {"metadata", {{"name", name_}}},
           {"spec", {{"rules", std::move(rules)}}}};
    auto r = k8s_.apply(p);
    if (!r.ok())
      throw std::runtime_error("kubectl apply of the policy failed: " + r.err);
  }
  [[nodiscard]] const std::string& name() const { return name_; }

private:
  const kube& k8s_;
  std::string name_;
};

// One rule allowing 127.0.0.1 on the dev PostgreSQL's port (as a range) to namespaces with
// label team=<team>.
json dev_postgres_rule(const std::string& rule_name, const std::string& team) {
  const auto port = std::to_string(postgres().port());
  return json{{"name", rule_name},
              {"namespaceSelector", {{"matchLabels", {{"team", team}}}}},
              {"hosts", {"127.0.0.1"}},
              {"ports", {port + "-" + port}},
              {"engines", {"postgresql"}}};
}

void label_namespace(const e2e_env& env, const std::string& team) {
  env.k8s.must({"label", "namespace", env.ns, "team=" + team, "--overwrite"});
}

// An environment whose operator starts only once its namespace is labelled (and the test's
// policies exist): the operator's first look already sees them.
e2e_options without_operator(e2e_options o = {}) {
  o.start_operator = false;
  return o;
}

void start_operator(e2e_env& env, const std::string& resync_period = "5s") {
  operator_options o;
  o.kubeconfig = env.k8s.kubeconfig();
  o.ns = env.ns;
  o.resync_period = resync_period;
  env.op = std::make_unique<operator_process>(o);
  env.op->start();
}

// PostgreSQL's log from an offset on: with log_connections on, every connection attempt is a
// "connection received" line and, once the user is known, lines carrying "<user>@<database>"
// (log_line_prefix '%m [%p] %q%u@%d ').
using pg_log = server_log;

// Turns log_connections on (server-wide, ALTER SYSTEM + reload) and waits until a connection of
// the test's own shows in the log; back off at the end.
class connection_logging {
public:
  explicit connection_logging(const postgres& pg)
      : marker_(unique_name("probe")), setting_(pg, "log_connections", "on", [&] {
          const auto start = log_.size();
          pqxx::connection c(pg.conninfo(pg.admin_user(), pg.admin_password(), "postgres")
                             + " application_name=" + marker_);
          return wait_until(
            [&] {
              return log_.since(start).find("application_name=" + marker_) != std::string::npos;
            },
            seconds(2), milliseconds(50));
        }) {}

private:
  pg_log log_;
  std::string marker_;
  server_setting setting_;
};

bool has_finalizer(const e2e_env& env, const std::string& name) {
  auto u = env.user(name);
  return u && !u->value("/metadata/finalizers"_json_pointer, json::array()).empty();
}

} // namespace

TEST_CASE("a policy lets namespace team=a use the dev PostgreSQL, team=b and the operator's own "
          "port are refused without a connection") {
  // The policy outlives the environments: their users are gone before enforcement ends.
  const kube k8s(dev_env::get().kubeconfig());
  // A second rule allows a port nobody listens on: an allowed target that cannot be reached.
  const int closed_port = free_tcp_port();
  auto closed_rule = dev_postgres_rule("closed-port", "a");
  closed_rule["ports"] = {closed_port};
  policy p(k8s, json::array({dev_postgres_rule("dev-postgres-team-a", "a"), closed_rule}));
  e2e_env env_a(without_operator());
  // team=b's admin Secret names an admin of its own (that does not even exist): any connection
  // the operator made for it would put that name in PostgreSQL's log.
  e2e_options b_opts = without_operator();
  b_opts.admin_secret = false;
  e2e_env env_b(b_opts);
  const auto b_admin = env_b.role_name("tna_admin");
  env_b.apply(secret_manifest(env_b.ns, admin_secret_name,
                              {{"username", b_admin}, {"password", unique_name("not-a-secret")}}));
  label_namespace(env_a, "a");
  label_namespace(env_b, "b");
  connection_logging logging(env_a.pg);
  pg_log log;
  const auto log_start = log.size();
  start_operator(env_a);
  start_operator(env_b);

  const auto name = env_a.object_name("app");
  const auto db = env_a.database_name("tp_db");
  const auto user_a = env_a.role_name("tp_a");
  const auto user_b = env_b.role_name("tp_b");
  env_a.apply(env_a.user_manifest(name, user_a, db, name + "-creds"));
  env_b.apply(env_b.user_manifest(name, user_b, db, name + "-creds"));

  REQUIRE_READY(env_a, name, seconds(60));
  CHECK(env_a.login_with_secret(name + "-creds").empty());

  REQUIRE_CONDITION(env_b, name, seconds(30), "False", "TargetNotAllowed");
  REQUIRE(env_b.wait_refusals(name, "TargetNotAllowed", 1));
  const auto refused = env_b.ready(name);
  INFO(refused.message);
  CHECK(refused.message.find("postgresql://127.0.0.1:" + std::to_string(env_b.pg.port())
                             + " is not allowed for namespace " + env_b.ns)
        == 0);
  CHECK(refused.message.find("rule \"dev-postgres-team-a\" of DatabaseTargetPolicy \"" + p.name()
                             + "\" allows it only for namespaces matching team=a")
        != std::string::npos);
  CHECK(env_b.wait_warning(name, "TargetNotAllowed"));
  CHECK_FALSE(has_finalizer(env_b, name)); // refused before the finalizer: deleting it is free
  CHECK_FALSE(env_b.secret(name + "-creds"));
  CHECK_FALSE(env_b.pg.role_exists(user_b));

  // The operator's own HTTP port, from the allowed namespace: no rule has it.
  const auto listen = env_a.op->listen_address();
  const auto own_port = std::stoi(listen.substr(listen.rfind(':') + 1));
  REQUIRE(own_port != env_a.pg.port());
  const auto probe = env_a.object_name("probe");
  auto probe_user = env_a.user_manifest(probe, env_a.role_name("tp_probe"), db, probe + "-creds");
  probe_user["spec"]["port"] = own_port;
  env_a.apply(probe_user);
  REQUIRE_CONDITION(env_a, probe, seconds(30), "False", "TargetNotAllowed");
  const auto probe_state = env_a.ready(probe);
  INFO(probe_state.message);
  CHECK(probe_state.message.find("postgresql://127.0.0.1:" + std::to_string(own_port)
                                 + " is not allowed for namespace " + env_a.ns
                                 + ": no DatabaseTargetPolicy has a rule that allows it")
        == 0);
  // No pool was ever made for that target (a pool exists from its first job).
  auto debug = run({"curl", "-sf", "http://" + listen + "/debug/actors?format=json"});
  REQUIRE(debug.ok());
  CHECK(debug.out.find(":" + std::to_string(own_port) + "/") == std::string::npos);
  CHECK(debug.out.find(":" + std::to_string(env_a.pg.port()) + "/") != std::string::npos);

  // Allowed but unreachable: the target and the class of the failure, nothing more.
  const auto closed = env_a.object_name("closed");
  auto closed_user =
    env_a.user_manifest(closed, env_a.role_name("tp_closed"), db, closed + "-creds");
  closed_user["spec"]["port"] = closed_port;
  closed_user["spec"]["deletionPolicy"] = "Retain"; // nothing to drop: cleanup need not wait
  env_a.apply(closed_user);
  REQUIRE_CONDITION(env_a, closed, seconds(60), "False", "DatabaseUnreachable");
  // The target and the class of the failure (and, once the pool marks the target down, since
  // when), nothing of the client library's text.
  const auto unreachable = env_a.ready(closed).message;
  INFO(unreachable);
  CHECK(unreachable.rfind("cannot reach postgresql://127.0.0.1:" + std::to_string(closed_port)
                            + ": connection refused",
                          0)
        == 0);
  CHECK(unreachable.find("connection to server") == std::string::npos);

  // PostgreSQL saw the team=a user (connection logging works) and nothing of team=b's.
  // A second look (the resync) changed nothing.
  REQUIRE(env_b.wait_refusals(name, "TargetNotAllowed", 2));
  const auto seen = log.since(log_start);
  CHECK(seen.find("user=" + user_a) != std::string::npos);
  CHECK(seen.find(b_admin) == std::string::npos);
  CHECK(seen.find(user_b) == std::string::npos);
  CHECK_NO_SECRETS_IN_LOG(env_a);
}

TEST_CASE("adding a rule lets a refused user in at once and taking it away stops management "
          "without dropping the role") {
  // The least-privilege admin (dbuser_admin) is this test's only user of that name, so its
  // connections are the operator's; the resync is long, so what wakes the user is the policy.
  const kube k8s(dev_env::get().kubeconfig());
  policy p(k8s, json::array()); // deny by default
  e2e_options opts = without_operator();
  opts.admin = admin_kind::least_privilege;
  e2e_env env(opts);
  label_namespace(env, "c");
  connection_logging logging(env.pg);
  pg_log log;
  start_operator(env, "10m");

  const auto name = env.object_name("app");
  const auto db = env.database_name("tp_db");
  const auto role = env.role_name("tp_c");
  env.apply(env.user_manifest(name, role, db, name + "-creds"));
  REQUIRE_CONDITION(env, name, seconds(30), "False", "TargetNotAllowed");
  CHECK(env.ready(name).message.find("no DatabaseTargetPolicy has a rule that allows it")
        != std::string::npos);

  const auto allowed_at = steady_clock::now();
  p.set_rules(json::array({dev_postgres_rule("team-c", "c")}));
  REQUIRE_READY(env, name, seconds(20));
  INFO("Ready " << duration_cast<milliseconds>(steady_clock::now() - allowed_at).count()
                << " ms after the rule was added");
  CHECK(env.login_with_secret(name + "-creds").empty());

  // The rule goes: the user is refused again, the role stays, and nothing connects any more.
  p.set_rules(json::array());
  REQUIRE_CONDITION(env, name, seconds(20), "False", "TargetNotAllowed");
  const auto stopped = env.ready(name);
  CHECK(stopped.message.find("does not connect to it and changes nothing there (no role is "
                             "dropped)")
        != std::string::npos);
  CHECK(env.pg.role_exists(role));
  CHECK(env.login_with_secret(name + "-creds").empty());
  const auto refused_at = log.size();
  const auto before = env.op->log_lines_about(env.ns, name, {"(TargetNotAllowed)"}).size();
  env.k8s.must({"annotate", pguser, name, "-n", env.ns, "example.com/poke=1"});
  REQUIRE(env.wait_refusals(name, "TargetNotAllowed", before + 1)); // looked again: still refused

  // Deleting it while the target is not allowed: nothing connects, the finalizer stays and
  // says how to let go; Retain lets it go without connecting.
  env.k8s.must({"delete", pguser, name, "-n", env.ns, "--wait=false"});
  REQUIRE(wait_until(
    [&] {
      auto s = env.ready(name);
      // The one command that lets it go, in the condition.
      return s.reason == "TargetNotAllowed"
             && s.message.find("kubectl patch postgresusers " + name + " -n " + env.ns
                               + " --type merge -p '{\"spec\":{\"deletionPolicy\":\"Retain\"}}'")
                  != std::string::npos;
    },
    seconds(20), milliseconds(200)));
  CHECK(has_finalizer(env, name));
  env.k8s.merge_patch(pguser, env.ns, name, {{"spec", {{"deletionPolicy", "Retain"}}}});
  REQUIRE(env.wait_gone(pguser, name, seconds(20)));
  CHECK(env.pg.role_exists(role));
  const auto after = log.since(refused_at);
  INFO(after);
  CHECK(after.find(env.admin_user() + "@") == std::string::npos);
  CHECK(after.find("user=" + env.admin_user()) == std::string::npos);
  CHECK(after.find("user=" + role) == std::string::npos);
}
