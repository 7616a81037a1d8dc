// Strategy Alternating (api/rotation.hpp): a NOLOGIN owner role and two login roles. Rotations
// never break a client that takes what the Secret holds; credentials read earlier keep working
// for the overlap and not after; both login roles see and own the same objects; strategy
// switches keep objects and privileges; SIGKILLs leave no orphaned login role; deletion drops
// every role.
#include "test/e2e/support/prelude.hpp"
#include "api/credentials.hpp"
#include "api/rotation.hpp"
#include "api/status.hpp"
#include "common/base64.hpp"
#include "test/rotation/rotation_support.hpp"

#include <atomic>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace {

json alternating(const std::string& overlap = "1m") {
  return {{"passwordRotation", {{"strategy", "Alternating"}, {"overlap", overlap}}}};
}

user_under_test make_user(e2e_env& env, const json& extra_spec, bool wait = true) {
  user_under_test u{env.object_name("alt"), env.role_name("alt"), env.database_name("alt_db"),
                    env.object_name("alt-creds")};
  auto manifest = env.user_manifest(u.name, u.username, u.database, u.secret);
  manifest["spec"].update(extra_spec);
  env.apply(manifest);
  if (wait)
    REQUIRE_READY(env, u.name, seconds(30));
  return u;
}

struct creds {
  std::string username, password, database;
};

// The Secret's credentials, read directly (safe from a second thread: nothing is remembered).
std::optional<creds> read_creds(const e2e_env& env, const user_under_test& u) {
  auto s = env.k8s.get("secret", env.ns, u.secret);
  if (!s)
    return std::nullopt;
  auto value = [&](const char* k) {
    auto v = s->value("/data"_json_pointer, json::object()).value(k, "");
    return dbuser::base64_decode(v).value_or("");
  };
  return creds{value("username"), value("password"), value("database")};
}

std::map<std::string, std::string> annotations_of_secret(const e2e_env& env,
                                                         const user_under_test& u) {
  std::map<std::string, std::string> out;
  if (auto s = env.k8s.get("secret", env.ns, u.secret)) {
    const auto annotations = s->value("/metadata/annotations"_json_pointer, json::object());
    for (auto& [k, v] : annotations.items())
      if (v.is_string())
        out[k] = v.get<std::string>();
  }
  return out;
}

// Waits until the Secret holds a password other than `old`, nothing pending; its credentials.
creds wait_rotated(e2e_env& env, const user_under_test& u, const std::string& old,
                   milliseconds deadline) {
  creds now;
  wait_until(
    [&] {
      auto c = env.secret(u.secret);
      if (!c || c->count(dbuser::api::key_pending_password) != 0)
        return false;
      now = creds{(*c)["username"], (*c)["password"], (*c)["database"]};
      return !now.password.empty() && now.password != old;
    },
    deadline, milliseconds(200));
  return now;
}

// The roles of the user that can log in now.
std::set<std::string> login_capable(const e2e_env& env, const std::string& owner) {
  std::set<std::string> out;
  for (const auto& r : {owner, owner + "-a", owner + "-b"})
    if (auto info = env.pg.role(r); info && info->can_login)
      out.insert(r);
  return out;
}

std::string scalar_as(const e2e_env& env, const creds& c, const std::string& sql) {
  pqxx::connection conn(env.pg.conninfo(c.username, c.password, c.database));
  pqxx::nontransaction tx(conn);
  return tx.exec(sql)[0][0].c_str();
}

std::size_t events_with_reason(const e2e_env& env, const std::string& name,
                               const std::string& reason) {
  std::size_t n = 0;
  for (const auto& e : env.k8s.events(env.ns, name, "Normal"))
    n += e.value("reason", "") == reason ? 1 : 0;
  return n;
}

// Deletion drops every role of the user: the owner and both login roles.
void delete_dropping_every_role(e2e_env& env, const user_under_test& u) {
  env.k8s.must({"delete", pguser, u.name, "-n", env.ns, "--wait=false"});
  REQUIRE(env.wait_gone(pguser, u.name, seconds(60)));
  for (const auto& r : {u.username, u.username + "-a", u.username + "-b"})
    CHECK_FALSE(env.pg.role_exists(r));
}

} // namespace

TEST_CASE("Alternating: a client that reconnects every 100 ms with what the Secret holds never "
          "fails across 10 rotations, credentials read first log in until their overlap ends "
          "and then fail, and both login roles share one owner of the objects",
          "[soak]") {
  e2e_env env(e2e_options{true, true, false, "30s", {}});
  auto u = make_user(env, alternating("1m"));
  auto first = read_creds(env, u);
  REQUIRE(first);
  REQUIRE(first->username == u.username + "-a");
  {
    auto s = env.secret(u.secret);
    REQUIRE(s);
    CHECK((*s)["owner-role"] == u.username);
  }
  auto owner = env.pg.role(u.username);
  REQUIRE(owner);
  CHECK_FALSE(owner->can_login);
  CHECK(login_capable(env, u.username) == std::set<std::string>{u.username + "-a"});

  // A table made through the first credentials (the DBA lets the owner create in public).
  env.pg.exec("GRANT CREATE ON SCHEMA public TO " + postgres::ident(u.username), u.database);
  REQUIRE(env.pg.exec_as(first->username, first->password, u.database,
                         "CREATE TABLE alt_t (i int); INSERT INTO alt_t VALUES (1)")
            .empty());
  CHECK(scalar_as(env, *first, "SELECT current_user") == u.username);
  CHECK(scalar_as(env, *first, "SELECT session_user") == first->username);

  std::atomic<bool> stop{false};
  std::mutex m;
  std::vector<std::string> failures;
  std::vector<std::string> seen_passwords;
  std::atomic<int> connections{0};
  std::thread reconnecting([&] {
    while (!stop) {
      const auto start = steady_clock::now();
      auto c = read_creds(env, u);
      std::string err = c ? env.pg.login_error(c->username, c->password, c->database)
                          : std::string("no Secret");
      {
        std::lock_guard<std::mutex> lock(m);
        if (c)
          seen_passwords.push_back(c->password);
        if (!err.empty())
          failures.push_back((c ? c->username : std::string("?")) + ": " + err);
      }
      ++connections;
      std::this_thread::sleep_until(start + milliseconds(100));
    }
  });
  // The keeper holds the first credentials: they log in until the overlap ends, then never.
  std::atomic<bool> keeper_failed{false};
  std::string keeper_error;
  system_clock::time_point keeper_last_ok{}, keeper_failed_at{};
  std::thread keeper([&] {
    while (!stop && !keeper_failed) {
      auto err = env.pg.login_error(first->username, first->password, first->database);
      std::lock_guard<std::mutex> lock(m);
      if (err.empty()) {
        keeper_last_ok = system_clock::now();
      } else {
        keeper_error = err;
        keeper_failed_at = system_clock::now();
        keeper_failed = true;
      }
      std::this_thread::sleep_for(milliseconds(250)); // its polling period, not a wait
    }
  });
  struct joiner {
    std::atomic<bool>& stop;
    std::thread& a;
    std::thread& b;
    ~joiner() {
      stop = true;
      if (a.joinable())
        a.join();
      if (b.joinable())
        b.join();
    }
  } join_at_exit{stop, reconnecting, keeper};

  std::string first_until;
  std::string last = first->password;
  std::set<std::string> usernames{first->username};
  for (int i = 0; i < 10; ++i) {
    annotate_rotate(env, u, "r" + std::to_string(i));
    // From the second on, a rotation waits for the previous overlap (1 min) to end.
    auto now = wait_rotated(env, u, last, seconds(i == 0 ? 30 : 100));
    INFO("rotation " << i << "\n" << env.describe(u.name));
    REQUIRE(now.password != last);
    REQUIRE(now.username == u.username + (i % 2 == 0 ? "-b" : "-a"));
    usernames.insert(now.username);
    last = now.password;
    auto annotations = annotations_of_secret(env, u);
    CHECK(annotations["database.example.com/previous-username"]
          == u.username + (i % 2 == 0 ? "-a" : "-b"));
    if (i == 0) {
      first_until = annotations["database.example.com/previous-valid-until"];
      REQUIRE_FALSE(first_until.empty());
      // The table through the second credentials: readable, writable, one owner.
      CHECK(env.pg.exec_as(now.username, now.password, u.database,
                           "INSERT INTO alt_t VALUES (2)")
              .empty());
      CHECK(scalar_as(env, now, "SELECT count(*) FROM alt_t") == "2");
      CHECK(scalar_as(env, now, "SELECT tableowner FROM pg_tables WHERE tablename = 'alt_t'")
            == u.username);
      CHECK(scalar_as(env, now, "SELECT current_user") == u.username);
      auto status = env.user(u.name)->at("status");
      CHECK(status.value("loginRole", "") == now.username);
      CHECK(status.value("previousLoginRole", "") == first->username);
      CHECK(status.value("previousLoginValidUntil", "") == first_until);
    }
    // At most the active and the previous role log in.
    auto capable = login_capable(env, u.username);
    CHECK(capable.count(now.username) == 1);
    CHECK(capable.size() <= 2);
    CHECK(capable.count(u.username) == 0);
  }
  REQUIRE(wait_until([&] { return keeper_failed.load(); }, seconds(10)));
  stop = true;
  reconnecting.join();
  keeper.join();

  {
    std::lock_guard<std::mutex> lock(m);
    INFO(failures.size() << " failed logins of " << connections << "; first: "
                         << (failures.empty() ? "" : failures.front()));
    CHECK(failures.empty());
    CHECK(connections > 1000);
    for (const auto& p : seen_passwords)
      env.remember_password(p);
    // The first credentials worked up to their end and failed after it (the operator disables
    // the role at the next reconcile, a second after the end).
    auto until = dbuser::api::parse_rfc3339(first_until);
    REQUIRE(until);
    CHECK(keeper_last_ok >= *until - seconds(2));
    CHECK(keeper_failed_at >= *until);
    CHECK(keeper_failed_at <= *until + seconds(15));
    CHECK_THAT(keeper_error, Catch::Contains("password authentication failed"));
  }
  CHECK(usernames.size() == 2);
  CHECK(events_with_reason(env, u.name, "PasswordRotated") >= 10);
  CHECK(events_with_reason(env, u.name, "PreviousCredentialsExpired") >= 1);
  CHECK_NO_SECRETS_IN_LOG(env);

  delete_dropping_every_role(env, u);
}

TEST_CASE("switching the strategy InPlace to Alternating and back keeps the objects and the "
          "privileges, and the credentials in use keep logging in") {
  e2e_env env(e2e_options{true, true, false, "30s", {}});
  auto u = make_user(env, json::object());
  auto first = read_creds(env, u);
  REQUIRE(first);
  REQUIRE(first->username == u.username);
  env.pg.exec("GRANT CREATE ON SCHEMA public TO " + postgres::ident(u.username), u.database);
  REQUIRE(env.pg.exec_as(first->username, first->password, u.database,
                         "CREATE TABLE sw_t (i int); INSERT INTO sw_t VALUES (1)")
            .empty());

  // InPlace -> Alternating: a rotation to <role>-a; the owner's login is the previous one.
  env.k8s.merge_patch(pguser, env.ns, u.name, {{"spec", alternating("1m")}});
  auto alt = wait_rotated(env, u, first->password, seconds(30));
  INFO(env.describe(u.name));
  REQUIRE(alt.username == u.username + "-a");
  CHECK(env.pg.login_error(first->username, first->password, u.database).empty());
  CHECK(scalar_as(env, alt, "SELECT count(*) FROM sw_t") == "1");
  CHECK(env.pg.exec_as(alt.username, alt.password, u.database, "INSERT INTO sw_t VALUES (2)")
          .empty());
  CHECK(scalar_as(env, alt, "SELECT tableowner FROM pg_tables WHERE tablename = 'sw_t'")
        == u.username);
  CHECK(annotations_of_secret(env, u)["database.example.com/previous-username"] == u.username);

  // Alternating -> InPlace: waits for the owner's overlap to end, then the owner logs in again.
  env.k8s.merge_patch(pguser, env.ns, u.name,
                      {{"spec", {{"passwordRotation", {{"strategy", "InPlace"}}}}}});
  auto back = wait_rotated(env, u, alt.password, seconds(100));
  REQUIRE(back.username == u.username);
  CHECK(env.login_with_secret(u.secret).empty());
  CHECK(scalar_as(env, back, "SELECT count(*) FROM sw_t") == "2");
  CHECK(env.pg.exec_as(back.username, back.password, u.database, "INSERT INTO sw_t VALUES (3)")
          .empty());
  CHECK(scalar_as(env, back, "SELECT has_table_privilege(current_user, 'sw_t', 'DELETE')")
        == "t");
  // The first credentials (the owner's old password) ended with their overlap.
  CHECK_THAT(env.pg.login_error(first->username, first->password, u.database),
             Catch::Contains("password authentication failed"));
  // <role>-a stays valid for its own overlap; the Secret's owner-role key is gone.
  CHECK(env.pg.login_error(alt.username, alt.password, u.database).empty());
  auto s = env.secret(u.secret);
  REQUIRE(s);
  CHECK(s->count("owner-role") == 0);
  CHECK_NO_SECRETS_IN_LOG(env);

  delete_dropping_every_role(env, u);
}

// (No ':' in this name: Catch indents a failure's header after the first ": ", and past the
// console width it aborts instead of reporting.)
TEST_CASE("SIGKILL at random moments of Alternating rotations and strategy switches (20 kills) "
          "leaves every Secret logging in, nothing pending and no other login role able to log "
          "in",
          "[soak]") {
  e2e_env env(e2e_options{true, true, false, "2s", {}});
  // Ten users rotate from Alternating, ten are switched from InPlace (itself a rotation).
  std::vector<user_under_test> users;
  for (int i = 0; i < 20; ++i)
    users.push_back(make_user(env, i % 2 == 0 ? alternating("1m") : json::object(), false));
  for (const auto& u : users)
    REQUIRE_READY(env, u.name, seconds(60));
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(0, 400);
  for (int i = 0; i < 20; ++i) {
    const auto& u = users[static_cast<std::size_t>(i)];
    if (i % 2 == 0)
      annotate_rotate(env, u, "kill-" + std::to_string(i));
    else
      env.k8s.merge_patch(pguser, env.ns, u.name, {{"spec", alternating("1m")}});
    // The crash point is random on purpose: this is the scenario, not a wait for a condition.
    std::this_thread::sleep_for(milliseconds(delay_ms(rng)));
    env.op->kill();
    env.op->start();
    INFO("iteration " << i << "\n" << env.describe(u.name));
    REQUIRE(env.wait_login_with_secret(u.secret, seconds(30)));
  }
  for (std::size_t i = 0; i < users.size(); ++i) {
    const auto& u = users[i];
    // Alternating users went from -a to -b; the switched ones from the owner to -a.
    const std::string active = u.username + (i % 2 == 0 ? "-b" : "-a");
    INFO(env.describe(u.name));
    REQUIRE(wait_until(
      [&] {
        auto c = read_creds(env, u);
        return c && c->username == active && !has_pending(env, u)
               && env.ready(u.name).status == "True";
      },
      seconds(60)));
    REQUIRE(env.login_with_secret(u.secret).empty());
    // The roles that log in: the Secret's, and the previous one within its overlap.
    auto annotations = annotations_of_secret(env, u);
    std::set<std::string> allowed{active};
    allowed.insert(annotations["database.example.com/previous-username"]);
    for (const auto& r : login_capable(env, u.username))
      CHECK(allowed.count(r) == 1);
  }
  CHECK_NO_SECRETS_IN_LOG(env);
}
