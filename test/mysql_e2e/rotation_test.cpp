// Password rotation of a MySQLUser (api/rotation.hpp), as for PostgreSQL: the rotate annotation
// rotates once, and a SIGKILL at any moment of a rotation leaves a Secret whose password logs in
// and, in the end, no pending password.
#include "test/e2e/support/prelude.hpp"
#include "api/credentials.hpp"
#include "api/rotation.hpp"
#include "test/mysql_e2e/support/mysql_checks.hpp"
#include "test/mysql_e2e/support/mysql_env.hpp"
#include "test/rotation/rotation_support.hpp"

#include <random>
#include <thread>

namespace {

user_under_test make_user(mysql_env& env) {
  user_under_test u{env.base.object_name("my-rot"), env.account_name("my_rot"),
                    env.database_name("my_rot_db"), env.base.object_name("my-rot-creds")};
  env.apply(env.user_manifest(u.name, u.username, u.database, u.secret));
  REQUIRE_MYSQL_READY(env, u.name, seconds(30));
  return u;
}

std::string rotated_for(const mysql_env& env, const user_under_test& u) {
  auto s = env.base.k8s.get("secret", env.base.ns, u.secret);
  if (!s)
    return "";
  return s->value("/metadata/annotations"_json_pointer, nlohmann::json::object())
      .value(dbuser::api::rotated_for_annotation, "");
}

} // namespace

TEST_CASE("a new rotate annotation value rotates a MySQLUser's password once: the new one logs "
          "in, the old one is refused") {
  mysql_env env(e2e_options{true, true, false, "1s", {}});
  auto u = make_user(env);
  const auto before = password_of(env.base, u);
  REQUIRE(env.login_with_secret(u.secret).empty());
  const auto hash_before = env.db.account_hash(u.username);

  env.annotate_rotate(u.name, "first");
  const auto after = wait_new_password(env.base, u, before);
  INFO(env.describe(u.name));
  REQUIRE(after != before);
  CHECK(env.login_with_secret(u.secret).empty());
  CHECK_THAT(env.db.login_error(u.username, before, u.database),
             Catch::Contains("Access denied"));
  CHECK(env.db.account_hash(u.username) != hash_before);
  CHECK(rotated_for(env, u) == "first");
  {
    INFO("the connection URLs carry the new password");
    auto d = *env.secret(u.secret);
    CHECK_THAT(d["uri"], Catch::Contains(":" + after + "@"));
    CHECK_THAT(d["jdbc-url"], Catch::Contains("password=" + after));
  }

  // Several resyncs later (1 s each) the same annotation value has not rotated it again.
  const auto hash_after = env.db.account_hash(u.username);
  const auto seen = env.base.op->log_lines_with({u.name, "reconciled"}).size();
  REQUIRE(wait_until(
      [&] { return env.base.op->log_lines_with({u.name, "reconciled"}).size() >= seen + 3; },
      seconds(30)));
  CHECK(password_of(env.base, u) == after);
  CHECK(env.db.account_hash(u.username) == hash_after);

  bool rotated_event = false;
  for (const auto& e : env.base.k8s.events(env.base.ns, u.name, "Normal"))
    rotated_event = rotated_event || e.value("reason", "") == "PasswordRotated";
  CHECK(rotated_event);
  CHECK(env.user(u.name)->at("status").contains("passwordUpdatedAt"));
  CHECK_NO_SECRETS_IN_LOG(env.base);
}

TEST_CASE("SIGKILL at a random moment of a MySQLUser's rotation, 20 times: the Secret always logs "
          "in and no pending password is left",
          "[soak]") {
  mysql_env env(e2e_options{true, true, false, "2s", {}});
  auto u = make_user(env);
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(0, 500);
  for (int i = 0; i < 20; ++i) {
    env.annotate_rotate(u.name, "kill-" + std::to_string(i));
    // The crash point is random on purpose: this is the scenario, not a wait for a condition.
    std::this_thread::sleep_for(milliseconds(delay_ms(rng)));
    env.base.op->kill();
    env.base.op->start();
    INFO("iteration " << i << "\n" << env.describe(u.name));
    // Ready again, with the Secret's password logging in (the rotation may or may not be done).
    REQUIRE(env.wait_login_with_secret(u.secret, seconds(30)));
    REQUIRE(env.wait_ready(u.name, seconds(30)));
  }
  // The last annotation value is handled, nothing pending, and the password works.
  INFO(env.describe(u.name));
  REQUIRE(wait_until([&] { return rotated_for(env, u) == "kill-19" && !has_pending(env.base, u); },
                     seconds(30)));
  CHECK(env.login_with_secret(u.secret).empty());
  CHECK(env.db.owner_row(u.username) == env.base.ns + "/" + u.name);
  CHECK_NO_SECRETS_IN_LOG(env.base);
}
