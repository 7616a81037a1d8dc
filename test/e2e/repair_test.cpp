// Drift behind the operator's back heals by itself: a Secret deleted by hand, a role dropped by
// hand, a password changed in the database.
#include "test/e2e/support/prelude.hpp"

TEST_CASE("a Secret deleted by hand is recreated with a new password that works",
          "[label:k8s-matrix]") {
  e2e_env env;
  const auto u = env.names_for("lost-secret");
  env.apply(env.user_manifest(u));
  REQUIRE_READY(env, u.name, seconds(20));
  const auto old_uid = env.k8s.get("secret", env.ns, u.secret_name).value()["metadata"]["uid"];
  const auto old_password = env.secret(u.secret_name).value()["password"];

  env.k8s.must({"delete", "secret", u.secret_name, "-n", env.ns});
  const bool recreated = wait_until(
      [&] {
        auto s = env.k8s.get("secret", env.ns, u.secret_name);
        return s && (*s)["metadata"]["uid"] != old_uid;
      },
      seconds(30), milliseconds(200));
  if (!recreated)
    FAIL("the Secret was not recreated\n" << env.describe(u.name));
  if (!env.wait_login_with_secret(u.secret_name, seconds(15)))
    FAIL("the recreated Secret does not log in: " << env.login_with_secret(u.secret_name) << "\n"
                                                    << env.describe(u.name));
  const auto new_password = env.secret(u.secret_name).value()["password"];
  CHECK(new_password != old_password);
  CHECK_FALSE(env.pg.login_error(u.username, old_password, u.database).empty());
  REQUIRE_READY(env, u.name, seconds(10));
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("a role dropped by hand is recreated and the Secret logs in again") {
  e2e_env env;
  const auto u = env.names_for("lost-role");
  env.apply(env.user_manifest(u));
  REQUIRE_READY(env, u.name, seconds(20));
  const auto password = env.secret(u.secret_name).value()["password"];

  env.pg.drop_role_everywhere(u.username);
  REQUIRE_FALSE(env.pg.role_exists(u.username));

  // The periodic resync (5 s here) notices and recreates it with the Secret's password.
  if (!env.wait_login_with_secret(u.secret_name, seconds(30)))
    FAIL("the Secret does not log in again: " << env.login_with_secret(u.secret_name) << "\n"
                                                << env.describe(u.name));
  CHECK(env.secret(u.secret_name).value()["password"] == password);
  env.pg.exec("CREATE TABLE public.after_repair (id int)", u.database);
  CHECK(env.pg.exec_as(u.username, password, u.database, "INSERT INTO public.after_repair VALUES (1)")
            .empty());
  REQUIRE_READY(env, u.name, seconds(10));
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("a password changed in the database behind the operator's back is set back to the "
          "Secret's") {
  e2e_options opts;
  opts.extra_args = {"--login-check-period", "2s"};
  e2e_env env(opts);
  const auto u = env.names_for("drifted");
  env.apply(env.user_manifest(u));
  REQUIRE_READY(env, u.name, seconds(20));
  const auto password = env.secret(u.secret_name).value()["password"];
  REQUIRE(env.pg.login_error(u.username, password, u.database).empty());

  const std::string intruder = "changed-by-hand-0123456789-abcdefghij";
  env.remember_password(intruder);
  env.pg.exec("ALTER ROLE " + postgres::ident(u.username) + " PASSWORD '" + intruder + "'");
  REQUIRE_FALSE(env.pg.login_error(u.username, password, u.database).empty());

  if (!env.wait_login_with_secret(u.secret_name, seconds(30)))
    FAIL("the Secret's password was not set back: " << env.login_with_secret(u.secret_name) << "\n"
                                                      << env.describe(u.name));
  CHECK(env.secret(u.secret_name).value()["password"] == password);
  CHECK_FALSE(env.pg.login_error(u.username, intruder, u.database).empty());
  if (auto role = env.pg.role(u.username))
    env.remember_password(role->verifier);
  CHECK_NO_SECRETS_IN_LOG(env);
}
