// Password rotation (api/rotation.hpp): the Secret always holds a password that logs in, or the
// operator finishes the rotation it started.
#include "test/e2e/support/prelude.hpp"
#include "api/credentials.hpp"
#include "test/rotation/rotation_support.hpp"

#include <iostream>
#include <random>
#include <set>
#include <thread>

namespace {

user_under_test make_user(e2e_env& env, const nlohmann::json& extra_spec = nlohmann::json::object()) {
  user_under_test u{env.object_name("rot"), env.role_name("rot"), env.database_name("rot_db"),
                    env.object_name("rot-creds")};
  auto manifest = env.user_manifest(u.name, u.username, u.database, u.secret);
  manifest["spec"].update(extra_spec);
  env.apply(manifest);
  REQUIRE_READY(env, u.name, seconds(30));
  return u;
}

std::size_t reconciles_logged(e2e_env& env, const user_under_test& u) {
  return env.op->log_lines_with({u.name, "reconciled"}).size();
}

} // namespace

TEST_CASE("a new rotate annotation value rotates the password once: the new one logs in, the "
          "old one fails",
          "[label:k8s-matrix]") {
  e2e_env env(e2e_options{true, true, false, "1s", {}});
  auto u = make_user(env);
  const auto before = password_of(env, u);
  REQUIRE(env.login_with_secret(u.secret).empty());

  annotate_rotate(env, u, "first");
  const auto after = wait_new_password(env, u, before);
  REQUIRE(after != before);
  CHECK(env.login_with_secret(u.secret).empty());
  CHECK_FALSE(env.pg.login_error(u.username, before, u.database).empty());

  // Several resyncs later (1 s each) the same annotation value has not rotated it again.
  const auto seen = reconciles_logged(env, u);
  REQUIRE(wait_until([&] { return reconciles_logged(env, u) >= seen + 3; }, seconds(30)));
  CHECK(password_of(env, u) == after);

  auto rotated_events = env.k8s.events(env.ns, u.name, "Normal");
  bool rotated_event = false;
  for (const auto& e : rotated_events)
    rotated_event = rotated_event || e.value("reason", "") == "PasswordRotated";
  CHECK(rotated_event);
  auto status = env.user(u.name)->at("status");
  CHECK(status.contains("passwordUpdatedAt"));
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("a short rotation interval rotates repeatedly and every password logs in") {
  e2e_env env(e2e_options{true, true, false, "30s", {}});
  auto u = make_user(env, {{"passwordRotation", {{"interval", "10s"}}}});
  std::set<std::string> seen{password_of(env, u)};
  std::string last = *seen.begin();
  for (int i = 0; i < 2; ++i) {
    last = wait_new_password(env, u, last, seconds(40));
    INFO(env.describe(u.name));
    REQUIRE_FALSE(last.empty());
    CHECK(seen.insert(last).second);
    CHECK(env.login_with_secret(u.secret).empty());
  }
  CHECK(seen.size() == 3);
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("SIGKILL at a random moment of a rotation, 20 times: the Secret always logs in and no "
          "pending password is left",
          "[soak]") {
  e2e_env env(e2e_options{true, true, false, "2s", {}});
  auto u = make_user(env);
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(0, 500);
  for (int i = 0; i < 20; ++i) {
    annotate_rotate(env, u, "kill-" + std::to_string(i));
    // The crash point is random on purpose: this is the scenario, not a wait for a condition.
    std::this_thread::sleep_for(milliseconds(delay_ms(rng)));
    env.op->kill();
    env.op->start();
    INFO("iteration " << i << "\n" << env.describe(u.name));
    // Ready again, with the Secret's password logging in (the rotation may or may not be done).
    REQUIRE(env.wait_login_with_secret(u.secret, seconds(30)));
    REQUIRE(env.wait_ready(u.name, seconds(30)));
  }
  // The last annotation value is handled, nothing pending, and the password works.
  REQUIRE(wait_until(
    [&] {
      auto s = env.k8s.get("secret", env.ns, u.secret);
      return s && s->value("/metadata/annotations"_json_pointer, nlohmann::json::object())
                      .value("database.example.com/rotated-for", "")
                    == "kill-19"
             && !has_pending(env, u);
    },
    seconds(30)));
  CHECK(env.login_with_secret(u.secret).empty());
  CHECK_NO_SECRETS_IN_LOG(env);
}

// [serial]: it stops the shared PostgreSQL.
TEST_CASE("a rotation asked for while PostgreSQL is down completes when it returns, and until then "
          "the Secret keeps the old password",
          "[serial]") {
  e2e_env env(e2e_options{true, true, false, "2s", {}});
  auto u = make_user(env);
  const auto before = password_of(env, u);

  restart_postgres_at_exit guard{env.pg};
  env.pg.stop();
  annotate_rotate(env, u, "while-down");
  REQUIRE_CONDITION(env, u.name, seconds(60), "False", "DatabaseUnreachable");
  CHECK(password_of(env, u) == before);

  env.pg.start();
  const auto after = wait_new_password(env, u, before, seconds(90));
  INFO(env.describe(u.name));
  REQUIRE(after != before);
  REQUIRE_READY(env, u.name, seconds(30));
  CHECK(env.login_with_secret(u.secret).empty());
  CHECK_FALSE(env.pg.login_error(u.username, before, u.database).empty());
  CHECK_NO_SECRETS_IN_LOG(env);
}
