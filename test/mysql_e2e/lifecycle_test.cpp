// A MySQLUser's life against the real MariaDB of the dev environment (issue 10): it becomes
// Ready, its Secret logs in with exactly the privileges asked for, deletion drops the account
// (or keeps it with Retain), and an account made by hand is never adopted.
#include "test/e2e/support/prelude.hpp"
#include "api/credentials.hpp"
#include "test/mysql_e2e/support/mysql_checks.hpp"
#include "test/mysql_e2e/support/mysql_env.hpp"

#include <sstream>

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

TEST_CASE("a MySQLUser becomes Ready and its Secret logs in with the privileges asked for, on a "
          "table created afterwards, and no others") {
  mysql_env env;
  const auto name = env.base.object_name("my-app");
  const auto username = env.account_name("my_app");
  const auto database = env.database_name("my_app_db");
  const auto other_database = env.database_name("my_other_db");
  const auto secret_name = env.base.object_name("my-app-creds");
  env.db.exec({"CREATE DATABASE " + mariadb::ident(other_database),
               "CREATE TABLE " + mariadb::ident(other_database) + ".t (id int)"});

  env.apply(env.user_manifest(name, username, database, secret_name));
  REQUIRE_MYSQL_READY(env, name, seconds(30));

  {
    INFO("the Secret holds the connection details of 'username'@'%' and no pending password");
    auto data = env.secret(secret_name);
    REQUIRE(data);
    auto& d = *data;
    const auto port = std::to_string(env.db.port());
    CHECK(d["username"] == username);
    CHECK(d["host"] == "127.0.0.1");
    CHECK(d["port"] == port);
    CHECK(d["database"] == database);
    CHECK(d["password"].size() >= 32);
    CHECK(d.count(dbuser::api::key_pending_password) == 0);
    // The generated alphabet is URL-safe, so the password appears as is in both URLs.
    CHECK(starts_with(d["uri"], "mysql://" + username + ":" + d["password"] + "@127.0.0.1:" + port
                                  + "/" + database + "?"));
    CHECK(starts_with(d["jdbc-url"], "jdbc:mysql://127.0.0.1:" + port + "/" + database
                                       + "?user=" + username + "&password=" + d["password"]));
  }
  REQUIRE(env.login_with_secret(secret_name).empty());
  CHECK(env.db.database_exists(database));
  CHECK(env.db.owner_row(username) == env.base.ns + "/" + name);

  {
    INFO("the granted privileges work on a table the admin creates after the account");
    const auto password = env.secret(secret_name)->at("password");
    env.db.exec({"CREATE TABLE items (id int PRIMARY KEY, v varchar(10))"}, database);
    auto as_user = [&](const std::string& sql) {
      return env.db.exec_as(username, password, database, sql);
    };
    CHECK(as_user("INSERT INTO items VALUES (1, 'a'), (2, 'b')").empty());
    CHECK(as_user("SELECT * FROM items").empty());
    CHECK(as_user("UPDATE items SET v = 'c' WHERE id = 1").empty());
    CHECK(as_user("DELETE FROM items WHERE id = 2").empty());
    CHECK_THAT(as_user("DROP TABLE items"), Catch::Contains("command denied"));
    CHECK_THAT(as_user("CREATE TABLE mine (id int)"), Catch::Contains("command denied"));
    CHECK_THAT(as_user("ALTER TABLE items ADD COLUMN w int"), Catch::Contains("command denied"));
    CHECK_THAT(as_user("SELECT * FROM " + mariadb::ident(other_database) + ".t"),
               Catch::Contains("command denied"));
    CHECK_THAT(as_user("SELECT * FROM mysql.user"), Catch::Contains("command denied"));
    CHECK(env.db.value("SELECT COUNT(*) FROM " + mariadb::ident(database) + ".items") == "1");
  }

  {
    INFO("the status reports the generation it reconciled and a verified login");
    auto u = env.user(name);
    REQUIRE(u);
    CHECK(u->value("/status/observedGeneration"_json_pointer, -1)
          == u->value("/metadata/generation"_json_pointer, 0));
    CHECK(u->value("/status/ready"_json_pointer, false));
    CHECK(u->value("/status/connection/verified"_json_pointer, false));
  }

  {
    INFO("kubectl get myuser shows username, database, readiness, reason and age");
    check_printed_columns(env.base.k8s, env.base.ns, "myuser", name, username, database);
  }
  CHECK_NO_SECRETS_IN_LOG(env.base);
}

// (No semicolon in test names: ctest's test list would split them.)
TEST_CASE("deleting a MySQLUser drops its account, its ownership row and its Secret, and leaves "
          "the database and its data") {
  mysql_env env;
  const auto u = env.names_for("my-doomed");
  env.apply(env.user_manifest(u));
  REQUIRE_MYSQL_READY(env, u.name, seconds(30));
  REQUIRE(env.login_with_secret(u.secret_name).empty());
  const auto password = env.secret(u.secret_name)->at("password");
  REQUIRE(env.db.exec_as(u.username, password, u.database, "SELECT 1").empty());
  env.db.exec({"CREATE TABLE kept (id int)", "INSERT INTO kept VALUES (42)"}, u.database);

  env.base.k8s.remove(myuser, env.base.ns, u.name);
  if (!env.wait_gone(u.name, seconds(30)))
    FAIL("the MySQLUser is still there\n" << env.describe(u.name));

  CHECK_FALSE(env.db.account_exists(u.username));
  CHECK_FALSE(env.db.owner_row(u.username));
  CHECK_FALSE(env.db.login_error(u.username, password).empty());
  CHECK_FALSE(env.base.k8s.get("secret", env.base.ns, u.secret_name));
  CHECK(env.db.value("SELECT id FROM " + mariadb::ident(u.database) + ".kept") == "42");
  CHECK_NO_SECRETS_IN_LOG(env.base);
}

TEST_CASE("deleting a MySQLUser with deletionPolicy Retain leaves its account, still logging in") {
  mysql_env env;
  const auto u = env.names_for("my-kept");
  auto user = env.user_manifest(u);
  user["spec"]["deletionPolicy"] = "Retain";
  env.apply(user);
  REQUIRE_MYSQL_READY(env, u.name, seconds(30));
  const auto password = env.secret(u.secret_name)->at("password");
  const auto before = env.db.account_hash(u.username);
  REQUIRE(before);

  env.base.k8s.remove(myuser, env.base.ns, u.name);
  if (!env.wait_gone(u.name, seconds(30)))
    FAIL("the MySQLUser is still there\n" << env.describe(u.name));

  CHECK(env.db.account_hash(u.username) == before);
  CHECK(env.db.login_error(u.username, password, u.database).empty());
  CHECK(env.db.exec_as(u.username, password, u.database, "SELECT 1").empty());
  CHECK_NO_SECRETS_IN_LOG(env.base);
}

TEST_CASE("an account made by hand before the MySQLUser is not adopted: RoleConflict, its "
          "password unchanged, and deleting the MySQLUser leaves it") {
  mysql_env env;
  const auto u = env.names_for("my-squat");
  const std::string their_password = "the-dba-chose-this-password-0123456789";
  env.base.remember_password(their_password);
  env.db.exec({"CREATE USER " + mariadb::literal(u.username) + "@'%' IDENTIFIED BY "
               + mariadb::literal(their_password)});
  const auto before = env.db.account_hash(u.username);
  REQUIRE(before);

  env.apply(env.user_manifest(u));
  REQUIRE_MYSQL_CONDITION(env, u.name, seconds(30), "False", "RoleConflict");
  CHECK_THAT(env.ready(u.name).message, Catch::Contains(u.username));
  // The operator retries on every resync (5 s): several refusals later nothing has changed.
  REQUIRE(wait_until(
      [&] {
        return env.base.op->log_lines_with({u.name, "(RoleConflict)"}).size() >= 2;
      },
      seconds(40), milliseconds(200)));
  CHECK(env.db.account_hash(u.username) == before);
  CHECK(env.db.login_error(u.username, their_password).empty());
  CHECK_FALSE(env.db.owner_row(u.username));
  CHECK(env.db.value("SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = "
                     + mariadb::literal("'" + u.username + "'@'%'"))
        == "0");
  CHECK_FALSE(env.base.k8s.get("secret", env.base.ns, u.secret_name));
  CHECK(env.ready(u.name).reason == "RoleConflict");

  env.base.k8s.remove(myuser, env.base.ns, u.name);
  if (!env.wait_gone(u.name, seconds(30)))
    FAIL("the MySQLUser is still there\n" << env.describe(u.name));
  CHECK(env.db.account_hash(u.username) == before);
  CHECK(env.db.login_error(u.username, their_password).empty());
  CHECK_NO_SECRETS_IN_LOG(env.base);
}
