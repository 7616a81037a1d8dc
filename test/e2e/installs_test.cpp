// Two operator installs watching the same namespace never fight (api/claim.hpp): each user is
// claimed by one install and reconciled by it alone, the other leaves it alone; a hand-over is
// explicit (an annotation a person sets, or `--release-all` of the old install); `--release-all`
// lets go of everything without touching a database.
//
// Witnesses: the operators' logs (which install reconciled which user), the claim on each
// resource, PostgreSQL's log (no "already exists": no role was created twice), the role catalog
// (each role once, with its verifier unchanged by a hand-over) and a login with every Secret.
#include "test/e2e/support/prelude.hpp"
#include "test/mysql_e2e/support/mysql_checks.hpp"
#include "test/mysql_e2e/support/mysql_env.hpp"
#include "test/support/dev_env.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

using dbuser::test::dev_env;

namespace {

constexpr const char* claimed_by = "database.example.com/claimed-by";
constexpr const char* released_by = "database.example.com/released-by";
constexpr const char* finalizer = "database.example.com/finalizer";
const std::string install_a = "e2e-install-a";
const std::string install_b = "e2e-install-b";

std::unique_ptr<operator_process> start_install(const e2e_env& env, const std::string& id) {
  operator_options o;
  o.kubeconfig = env.k8s.kubeconfig();
  o.ns = env.ns;
  o.resync_period = "5s";
  o.extra_args = {"--install-id", id};
  auto op = std::make_unique<operator_process>(o);
  op->start();
  return op;
}

// What one operator log says about each user of `ns`: name → messages.
std::map<std::string, std::vector<std::string>> messages_by_user(const operator_process& op,
                                                                  const std::string& ns) {
  std::map<std::string, std::vector<std::string>> out;
  std::istringstream in(op.log());
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || j.value("namespace", "") != ns)
      continue;
    out[j.value("name", "")].push_back(j.value("msg", ""));
  }
  return out;
}

std::size_t count_with(const std::vector<std::string>& messages, const std::string& needle) {
  std::size_t n = 0;
  for (const auto& m : messages)
    n += m.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

std::string annotation(const json& object, const std::string& key) {
  return object.value("/metadata/annotations"_json_pointer, json::object()).value(key, "");
}

bool has_finalizer(const json& object) {
  for (const auto& f : object.value("/metadata/finalizers"_json_pointer, json::array()))
    if (f == finalizer)
      return true;
  return false;
}

// The install that released a user (--release-all), once it holds no finalizer and no claim.
std::string released_by_install(const std::optional<json>& user) {
  REQUIRE(user);
  CHECK_FALSE(has_finalizer(*user));
  CHECK(annotation(*user, claimed_by).empty());
  return annotation(*user, released_by);
}

// PostgreSQL's log from an offset on.
class pg_log : public server_log {
public:
  // The lines since the start that contain `needle` and name one of `ours` (this test's database
  // and roles: other tests run beside this one and write to the same server log, e.g. their
  // own first users racing on a new database's privilege group).
  [[nodiscard]] std::string lines_about(const std::string& needle,
                                       const std::vector<std::string>& ours) const {
    std::string found;
    std::istringstream in(since_start());
    for (std::string line; std::getline(in, line);)
      if (line.find(needle) != std::string::npos
          && std::any_of(ours.begin(), ours.end(),
                         [&](const std::string& n) { return line.find(n) != std::string::npos; }))
        found += line + "\n";
    return found;
  }
};

// The value of a sample of /metrics, e.g. `dbuser_users_claimed_elsewhere{...}`; -1 if absent.
double metric(const operator_process& op, const std::string& sample_prefix) {
  auto r = run({"curl", "-sf", "http://" + op.listen_address() + "/metrics"});
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(sample_prefix, 0) == 0)
      return std::stod(line.substr(line.rfind(' ') + 1));
  return -1;
}

struct user {
  std::string name, username, secret;
  std::string verifier, password;
};

// `dbuser-operator --release-all` of install `id` for the test's namespace; its exit code.
int release_all(const e2e_env& env, const std::string& id) {
  operator_options o;
  o.kubeconfig = env.k8s.kubeconfig();
  o.ns = env.ns;
  o.extra_args = {"--install-id", id, "--release-all"};
  operator_process tool(o);
  tool.start();
  auto exit = tool.wait_exit(seconds(60));
  if (!exit || exit->signaled) {
    UNSCOPED_INFO("release-all did not finish:\n" << tail_lines(tool.log(), 20));
    return -1;
  }
  UNSCOPED_INFO("release-all of " << id << ":\n" << tail_lines(tool.log(), 5));
  return exit->code;
}

} // namespace

TEST_CASE("two installs watching one namespace: each user is claimed and reconciled by exactly "
          "one, a hand-over is explicit, and release-all lets go without touching a database") {
  e2e_options no_operator;
  no_operator.start_operator = false;
  e2e_env env(no_operator);
  pg_log whole_log;
  env.op = start_install(env, install_a); // the env's: its failure messages show A's log
  operator_process* a = env.op.get();
  auto b = start_install(env, install_b);
  for (auto* op : {a, b.get()})
    REQUIRE(op->wait_for_log({"PostgresUser cache synced"}, seconds(30)));

  // 50 users on one database: the first alone (it creates the database and its privilege group,
  // which every user shares: concurrent first users of a new database race on those within one
  // install already, pg/'s business, not this test's), then the other 49 at once.
  const int count = 50;
  const auto database = env.database_name("inst_db");
  std::vector<user> users;
  json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", json::array()}};
  for (int i = 0; i < count; ++i) {
    const auto n = std::to_string(i);
    user u{env.object_name("u" + n), env.role_name("inst" + n), env.object_name("creds" + n),
           "", ""};
    if (i == 0)
      env.apply(env.user_manifest(u.name, u.username, database, u.secret));
    else
      list["items"].push_back(env.user_manifest(u.name, u.username, database, u.secret));
    users.push_back(u);
  }
  REQUIRE_READY(env, users[0].name, seconds(60));
  // From here on, PostgreSQL logs no "already exists" about this test's database, its privilege
  // group (named after the database) or its roles.
  pg_log server_log;
  std::vector<std::string> ours{database};
  for (const auto& u : users)
    ours.push_back(u.username);
  REQUIRE(env.k8s.apply(list, env.ns).ok());
  for (auto& u : users) {
    REQUIRE_READY(env, u.name, seconds(180));
    u.verifier = env.pg.role(u.username)->verifier;
    u.password = env.secret(u.secret)->at("password");
  }

  // Each user claimed by exactly one install, which alone reconciled it; the other says once
  // that it leaves it alone.
  std::map<std::string, std::string> owner; // name → install
  std::map<std::string, std::size_t> split;
  for (const auto& u : users) {
    auto obj = env.user(u.name);
    REQUIRE(obj);
    owner[u.name] = annotation(*obj, claimed_by);
    CHECK((owner[u.name] == install_a || owner[u.name] == install_b));
    CHECK(has_finalizer(*obj));
    ++split[owner[u.name]];
  }
  INFO("split: " << split[install_a] << " claimed by " << install_a << ", " << split[install_b]
                 << " by " << install_b);
  const auto left_alone = [&](const operator_process& op, const std::string& name) {
    const auto m = messages_by_user(op, env.ns)[name];
    return count_with(m, "leaves it alone") == 1;
  };
  for (const auto& u : users) {
    auto& mine = owner[u.name] == install_a ? *a : *b;
    auto& other = owner[u.name] == install_a ? *b : *a;
    INFO(u.name << " claimed by " << owner[u.name]);
    CHECK(wait_until([&] { return left_alone(other, u.name); }, seconds(30), milliseconds(500)));
    const auto m_mine = messages_by_user(mine, env.ns)[u.name];
    const auto m_other = messages_by_user(other, env.ns)[u.name];
    CHECK(count_with(m_mine, "claimed by this install") == 1);
    CHECK(count_with(m_mine, "reconciled in") >= 1);
    CHECK(count_with(m_other, "reconciled in") == 0);
    CHECK(count_with(m_other, "claimed by this install") == 0);
    CHECK(env.warnings(u.name).empty());
    CHECK(env.login_with_secret(u.secret).empty());
  }
  // No role was created twice: PostgreSQL logged no "already exists" (a CREATE ROLE that fails
  // is logged with its error), and each role is there once, marked for its resource.
  CHECK(server_log.lines_about("already exists", ours) == "");
  const auto whole = whole_log.since_start();
  for (const auto& u : users) {
    CHECK(whole.find("role \"" + u.username + "\" already exists") == std::string::npos);
    auto role = env.pg.role(u.username);
    REQUIRE(role);
    CHECK(role->comment.find(env.ns + "/" + u.name) != std::string::npos);
  }
  // Each install counts what the other holds.
  CHECK(wait_until(
    [&] {
      return metric(*a, "dbuser_users_claimed_elsewhere{kind=\"PostgresUser\",claimed_by=\""
                          + install_b + "\"}")
               == static_cast<double>(split[install_b])
             || split[install_b] == 0;
    },
    seconds(20), milliseconds(500)));
  CHECK(metric(*a, "dbuser_install_info{install_id=\"" + install_a + "\"}") == 1);

  // Hand-over by a person: the users of one install (up to 5) annotated for the other. The new
  // install reconciles them with the same passwords; the old one stops touching them.
  const auto& from = split[install_a] > 0 ? install_a : install_b;
  const auto& to = from == install_a ? install_b : install_a;
  auto& old_op = from == install_a ? *a : *b;
  auto& new_op = from == install_a ? *b : *a;
  std::vector<user> moved;
  for (const auto& u : users)
    if (owner[u.name] == from && moved.size() < 5)
      moved.push_back(u);
  for (const auto& u : moved)
    REQUIRE(env.k8s
              .kubectl({"annotate", pguser, u.name, "-n", env.ns, "--overwrite",
                        std::string(claimed_by) + "=" + to})
              .ok());
  for (const auto& u : moved) {
    INFO(u.name << " handed from " << from << " to " << to);
    CHECK(wait_until([&] { return left_alone(old_op, u.name); }, seconds(30), milliseconds(500)));
    CHECK(wait_until(
      [&] { return count_with(messages_by_user(new_op, env.ns)[u.name], "reconciled in") > 0; },
      seconds(30), milliseconds(500)));
    REQUIRE_READY(env, u.name, seconds(30));
    CHECK(env.pg.role(u.username)->verifier == u.verifier);
    CHECK(env.secret(u.secret)->at("password") == u.password);
    CHECK(env.login_with_secret(u.secret).empty());
    owner[u.name] = to;
  }

  // Hand-over by release: B lets go of everything it claims (no SQL); A, still running, claims
  // what B released and keeps the same roles and passwords.
  REQUIRE(release_all(env, install_b) == 0);
  for (const auto& u : users) {
    INFO(u.name);
    CHECK(wait_until(
      [&] {
        auto obj = env.user(u.name);
        return obj && annotation(*obj, claimed_by) == install_a && has_finalizer(*obj)
               && annotation(*obj, released_by).empty();
      },
      seconds(60), milliseconds(250)));
    REQUIRE_READY(env, u.name, seconds(60));
    CHECK(env.pg.role(u.username)->verifier == u.verifier);
    CHECK(env.secret(u.secret)->at("password") == u.password);
  }
  CHECK(server_log.lines_about("already exists", ours) == "");

  // Release-all as the uninstall's first step: A lets go of everything while it still runs; it
  // then leaves the users alone, no finalizer is left, every role stays, every Secret logs in.
  // (B is stopped first: what A releases is free for any other install, B among them.)
  b->stop();
  REQUIRE(release_all(env, install_a) == 0);
  for (const auto& u : users) {
    INFO(u.name);
    CHECK(released_by_install(env.user(u.name)) == install_a);
    // Its Secret is released as in an uninstall: no owner (garbage collection keeps it when the
    // user goes), the annotation naming the user (applied again, the user adopts it).
    auto secret = env.k8s.get("secret", env.ns, u.secret);
    REQUIRE(secret);
    CHECK(secret->value("/metadata/ownerReferences"_json_pointer, json::array()).empty());
    CHECK(annotation(*secret, released_by) == env.ns + "/" + u.name);
    CHECK(wait_until(
      [&] {
        return count_with(messages_by_user(*a, env.ns)[u.name], "released by this install") > 0;
      },
      seconds(30), milliseconds(500)));
  }
  // Deleted now, they go at once (no finalizer): the roles stay with their passwords.
  REQUIRE(env.k8s.kubectl({"delete", pguser, "--all", "-n", env.ns, "--wait=false"}).ok());
  CHECK(wait_until([&] { return env.k8s.list(pguser, env.ns).empty(); }, seconds(30)));
  for (const auto& u : users) {
    INFO(u.username);
    auto role = env.pg.role(u.username);
    REQUIRE(role);
    CHECK(role->verifier == u.verifier);
    CHECK(env.pg.login_error(u.username, u.password, database).empty());
    CHECK(env.secret(u.secret)->at("password") == u.password);
  }
  CHECK(count_with(messages_by_user(*a, env.ns)[users[0].name], "finalized") == 0);
  CHECK(server_log.lines_about("already exists", ours) == "");
  CHECK_NO_SECRETS_IN_LOG(env); // A's log
  const auto b_log = b->log();
  CHECK(b_log.find("SCRAM-SHA-256$") == std::string::npos);
  for (const auto& u : users)
    CHECK(b_log.find(u.password) == std::string::npos);
}

TEST_CASE("MySQLUsers go through the same claim: two installs, each user reconciled by exactly "
          "one, and release-all keeps every account") {
  e2e_options no_operator;
  no_operator.start_operator = false;
  mysql_env env(no_operator);
  env.base.op = start_install(env.base, install_a);
  operator_process* a = env.base.op.get();
  auto b = start_install(env.base, install_b);
  for (auto* op : {a, b.get()})
    REQUIRE(op->wait_for_log({"MySQLUser cache synced"}, seconds(30)));
  const auto database = env.database_name("inst_my_db");
  struct account {
    std::string name, username, secret, hash;
  };
  std::vector<account> accounts;
  for (int i = 0; i < 6; ++i) {
    const auto n = std::to_string(i);
    account u{env.base.object_name("my" + n), env.account_name("inst" + n),
              env.base.object_name("my-creds" + n), ""};
    if (i == 0) { // the first alone: it creates the database
      env.apply(env.user_manifest(u.name, u.username, database, u.secret));
      REQUIRE_MYSQL_READY(env, u.name, seconds(60));
    }
    accounts.push_back(u);
  }
  json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", json::array()}};
  for (std::size_t i = 1; i < accounts.size(); ++i)
    list["items"].push_back(
      env.user_manifest(accounts[i].name, accounts[i].username, database, accounts[i].secret));
  REQUIRE(env.base.k8s.apply(list, env.base.ns).ok());
  for (auto& u : accounts) {
    INFO(u.name);
    REQUIRE_MYSQL_READY(env, u.name, seconds(90));
    auto obj = env.user(u.name);
    REQUIRE(obj);
    const auto holder = annotation(*obj, claimed_by);
    CHECK((holder == install_a || holder == install_b));
    CHECK(has_finalizer(*obj));
    auto& mine = holder == install_a ? *a : *b;
    auto& other = holder == install_a ? *b : *a;
    CHECK(wait_until(
      [&] {
        return count_with(messages_by_user(other, env.base.ns)[u.name], "leaves it alone") == 1;
      },
      seconds(30), milliseconds(500)));
    CHECK(count_with(messages_by_user(mine, env.base.ns)[u.name], "reconciled in") >= 1);
    CHECK(count_with(messages_by_user(other, env.base.ns)[u.name], "reconciled in") == 0);
    CHECK(env.login_with_secret(u.secret).empty());
    u.hash = env.db.account_hash(u.username).value_or("");
  }
  // Both installs let go (no SQL): no finalizer left, every account as it was.
  b->stop();
  REQUIRE(release_all(env.base, install_b) == 0);
  REQUIRE(release_all(env.base, install_a) == 0);
  for (const auto& u : accounts) {
    INFO(u.name);
    CHECK_FALSE(released_by_install(env.user(u.name)).empty());
    CHECK(env.db.account_hash(u.username) == u.hash);
  }
  CHECK_NO_SECRETS_IN_LOG(env.base);
}
