// No password, verifier or admin credential ever reaches the operator's log, even at debug level
// and through the paths that handle passwords: creation, a Secret recreated with a new password,
// a role recreated, a password set back after drift.
#include "test/e2e/support/prelude.hpp"

TEST_CASE("no generated password or verifier appears in the operator's log") {
  e2e_options opts;
  opts.extra_args = {"--login-check-period", "1s"};
  e2e_env env(opts);
  REQUIRE(env.op->options().log_level == "debug");
  const auto database = env.database_name("secrecy_db");
  const auto users = env.apply_users("secrecy", database, 3); // name, secret
  for (const auto& [name, secret] : users) {
    REQUIRE_READY(env, name, seconds(30));
    REQUIRE(env.login_with_secret(secret).empty());
  }

  // A new password for the first (Secret deleted), a recreated role for the second, a password
  // set back for the third.
  const auto& [name0, secret0] = users[0];
  const auto& [name1, secret1] = users[1];
  const auto& [name2, secret2] = users[2];
  const auto old0 = env.secret(secret0).value()["password"];
  env.k8s.must({"delete", "secret", secret0, "-n", env.ns});
  auto user1 = env.secret(secret1).value()["username"];
  env.pg.drop_role_everywhere(user1);
  auto user2 = env.secret(secret2).value()["username"];
  env.pg.exec("ALTER ROLE " + postgres::ident(user2) + " PASSWORD 'set-by-hand-for-the-test'");
  env.remember_password("set-by-hand-for-the-test");

  REQUIRE(wait_until(
      [&] {
        auto s = env.secret(secret0);
        return s && (*s)["password"] != old0 && env.login_with_secret(secret0).empty();
      },
      seconds(30), milliseconds(250)));
  REQUIRE(env.wait_login_with_secret(secret1, seconds(30)));
  REQUIRE(env.wait_login_with_secret(secret2, seconds(30)));
  for (const auto& u : {env.secret(secret0).value()["username"], user1, user2})
    if (auto r = env.pg.role(u))
      env.remember_password(r->verifier);

  // Stopping writes the last lines; then nothing may be in the whole log.
  env.op->stop();
  CHECK_FALSE(env.op->log().empty());
  CHECK_NO_SECRETS_IN_LOG(env);
  env.op->start(); // the cleanup deletes the PostgresUsers through the operator
}
