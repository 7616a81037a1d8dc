// What the operator refuses (design.md §2 ownership rules): each refusal is a Ready=False reason,
// a Warning Event and no change to anything; a refusal whose cause goes away heals by itself.
#include "test/e2e/support/prelude.hpp"

#include <iostream>

TEST_CASE("a role that exists without our marker is not adopted and not changed") {
  e2e_env env;
  const auto u = env.names_for("squatter");
  const std::string their_password = "the-dba-chose-this-password-0123456789";
  env.remember_password(their_password);
  env.pg.exec("CREATE ROLE " + postgres::ident(u.username) + " LOGIN CREATEDB CONNECTION LIMIT 3 "
              "PASSWORD '" + their_password + "'");
  const auto before = env.pg.role(u.username);
  REQUIRE(before);

  env.apply(env.user_manifest(u));
  REQUIRE_CONDITION(env, u.name, seconds(20), "False", "RoleConflict");
  CHECK_THAT(env.ready(u.name).message, Catch::Contains(u.username));
  CHECK(env.wait_warning(u.name, "RoleConflict"));
  REQUIRE(env.wait_refusals(u.name, "RoleConflict", 3));

  CHECK(env.pg.role(u.username) == before);
  CHECK(env.pg.login_error(u.username, their_password, "postgres").empty());
  CHECK_FALSE(env.k8s.get("secret", env.ns, u.secret_name));
  CHECK(env.ready(u.name).reason == "RoleConflict");

  // Deleting the refused PostgresUser leaves the role alone too.
  env.k8s.remove(pguser, env.ns, u.name);
  if (!env.wait_gone(pguser, u.name, seconds(30)))
    FAIL("the PostgresUser is still there\n" << env.describe(u.name));
  CHECK(env.pg.role(u.username) == before);
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("a second PostgresUser claiming a username another one owns is refused and the first "
          "stays Ready") {
  e2e_env env;
  const auto first = env.object_name("owner");
  const auto second = env.object_name("claimant");
  const auto username = env.role_name("shared");
  const auto database = env.database_name("shared_db");
  const auto first_secret = env.object_name("owner-creds");
  const auto second_secret = env.object_name("claimant-creds");
  env.apply(env.user_manifest(first, username, database, first_secret));
  REQUIRE_READY(env, first, seconds(20));
  const auto first_ready = env.ready(first);
  const auto role_before = env.pg.role(username);
  REQUIRE(role_before);

  env.apply(env.user_manifest(second, username, database, second_secret));
  REQUIRE_CONDITION(env, second, seconds(20), "False", "RoleConflict");
  CHECK_THAT(env.ready(second).message, Catch::Contains(first));
  CHECK(env.wait_warning(second, "RoleConflict"));
  REQUIRE(env.wait_refusals(second, "RoleConflict", 3));

  const auto first_now = env.ready(first);
  CHECK(first_now.status == "True");
  CHECK(first_now.last_transition_time == first_ready.last_transition_time);
  CHECK(env.pg.role(username) == role_before);
  CHECK(env.login_with_secret(first_secret).empty());
  CHECK_FALSE(env.k8s.get("secret", env.ns, second_secret));

  // Deleting the claimant does not drop the role that belongs to the first one.
  env.k8s.remove(pguser, env.ns, second);
  if (!env.wait_gone(pguser, second, seconds(30)))
    FAIL("the claimant is still there\n" << env.describe(second));
  CHECK(env.pg.role(username) == role_before);
  CHECK(env.login_with_secret(first_secret).empty());
  CHECK(env.ready(first).status == "True");
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("a Secret that exists and is not ours is left unchanged and reported as "
          "SecretConflict") {
  e2e_env env;
  const auto name = env.object_name("secret-clash");
  const auto username = env.role_name("secret_clash");
  const auto database = env.database_name("secret_clash_db");
  const auto secret_name = env.object_name("someone-elses");
  env.remember_password("not-yours-keep-out");
  env.apply(secret_manifest(env.ns, secret_name,
                            {{"username", "someone"}, {"password", "not-yours-keep-out"}}));
  const auto before = env.k8s.get("secret", env.ns, secret_name).value();

  env.apply(env.user_manifest(name, username, database, secret_name));
  REQUIRE_CONDITION(env, name, seconds(20), "False", "SecretConflict");
  CHECK(env.wait_warning(name, "SecretConflict"));
  REQUIRE(env.wait_refusals(name, "SecretConflict", 3));

  const auto after = env.k8s.get("secret", env.ns, secret_name).value();
  CHECK(after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]);
  CHECK(after["data"] == before["data"]);
  CHECK_FALSE(after["metadata"].contains("ownerReferences"));
  CHECK_FALSE(env.pg.role_exists(username));

  // Deleting the PostgresUser does not delete someone else's Secret.
  env.k8s.remove(pguser, env.ns, name);
  if (!env.wait_gone(pguser, name, seconds(30)))
    FAIL("the PostgresUser is still there\n" << env.describe(name));
  auto kept = env.k8s.get("secret", env.ns, secret_name);
  REQUIRE(kept);
  CHECK((*kept)["data"] == before["data"]);
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("a missing admin Secret is reported as AdminSecretNotFound and heals once it is "
          "created") {
  e2e_env env;
  const auto u = env.names_for("early");
  const auto admin_name = env.object_name("admin-later");
  auto user = env.user_manifest(u);
  user["spec"]["adminSecretRef"]["name"] = admin_name;
  env.apply(user);

  REQUIRE_CONDITION(env, u.name, seconds(20), "False", "AdminSecretNotFound");
  CHECK_THAT(env.ready(u.name).message, Catch::Contains(admin_name));
  CHECK(env.wait_warning(u.name, "AdminSecretNotFound"));
  CHECK_FALSE(env.pg.role_exists(u.username));

  env.apply(secret_manifest(env.ns, admin_name,
                            {{"username", env.pg.admin_user()},
                             {"password", env.pg.admin_password()}}));
  REQUIRE_READY(env, u.name, seconds(60));
  CHECK(env.login_with_secret(u.secret_name).empty());
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("the API server refuses the usernames postgres and pg_monitor", "[label:k8s-matrix]") {
  e2e_env env;
  for (const std::string username : {"postgres", "pg_monitor"}) {
    INFO("username " << username);
    const auto name = env.object_name("reserved");
    auto r = env.try_apply(env.user_manifest(name, username, "postgres", name + "-creds"));
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.err, Catch::Contains("spec.username") && Catch::Contains("reserved"));
    CHECK_FALSE(env.user(name));
  }
  // The roles themselves are untouched: postgres still logs in with its password.
  CHECK(env.pg.login_error(env.pg.admin_user(), env.pg.admin_password(), "postgres").empty());
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("a table whose ACL others filled with direct grants is a DatabaseLimitExceeded refusal "
          "that says what to do, and heals once they are revoked") {
  e2e_env env;
  const auto name = env.object_name("full-acl");
  const auto username = env.role_name("full_acl");
  const auto database = env.database_name("full_acl_db");
  const auto filler = env.role_name("filler") + "_";
  env.pg.exec("CREATE DATABASE " + postgres::ident(database));
  // What the operator did before privilege groups, or a DBA's script: one grantee per role,
  // until pg_class's 8 KB row is full (about 2,440).
  env.pg.exec("CREATE TABLE t (id int); DO $$DECLARE i int; BEGIN FOR i IN 1..3000 LOOP "
              "EXECUTE format('CREATE ROLE %I', '" + filler + "' || i); BEGIN EXECUTE "
              "format('GRANT SELECT ON t TO %I', '" + filler + "' || i); EXCEPTION WHEN "
              "program_limit_exceeded THEN EXIT; END; END LOOP; END$$",
              database);
  struct drop_fillers {
    e2e_env& env;
    std::string database, filler;
    ~drop_fillers() {
      try {
        env.pg.exec("DO $$DECLARE r text; BEGIN FOR r IN SELECT rolname FROM pg_roles WHERE "
                    "starts_with(rolname, '" + filler + "') LOOP EXECUTE format('DROP OWNED BY "
                    "%I', r); EXECUTE format('DROP ROLE %I', r); END LOOP; END$$",
                    database);
      } catch (const std::exception& e) {
        std::cerr << "cleanup of " << filler << "*: " << e.what() << "\n";
      }
    }
  } cleanup{env, database, filler};

  env.apply(env.user_manifest(name, username, database, env.object_name("full-acl-creds")));
  REQUIRE_CONDITION(env, name, seconds(30), "False", "DatabaseLimitExceeded");
  const auto message = env.ready(name).message;
  CHECK_THAT(message, Catch::Contains("row is too big") && Catch::Contains("SQLSTATE 54000")
                        && Catch::Contains("2,440") && Catch::Contains("privilege groups")
                        && Catch::Contains("Retrying will not help"));
  CHECK(env.wait_warning(name, "DatabaseLimitExceeded"));
  // A refusal, not a retry: the operator's log says "refused"-style outcomes on each resync only.
  REQUIRE(env.wait_refusals(name, "DatabaseLimitExceeded", 2));
  // Refused (it waits for a change or the resync), not in backoff.
  auto debug = run({"curl", "-sf", "http://" + env.op->listen_address() + "/debug/actors/" + env.ns
                                     + "/" + name});
  REQUIRE(debug.ok());
  CHECK(debug.out.find("\"Refused\"") != std::string::npos);
  CHECK_FALSE(env.pg.role_exists(username)); // nothing half-done

  // Revoking the direct grants makes room: the next resync makes it Ready.
  env.pg.exec("DO $$DECLARE r text; BEGIN FOR r IN SELECT rolname FROM pg_roles WHERE "
              "starts_with(rolname, '" + filler + "') LOOP EXECUTE format('REVOKE ALL ON t FROM "
              "%I', r); END LOOP; END$$",
              database);
  REQUIRE_READY(env, name, seconds(30));
  CHECK_NO_SECRETS_IN_LOG(env);
}
