// A MySQLUser's life against the real MariaDB of the dev environment (issue 10): it becomes
// Ready, its Secret logs in with exactly the privileges asked for, deletion drops the account
// (or keeps it with Retain), and an account made by hand is never adopted.
#include "api/credentials.hpp"
#include "test/mysql_e2e/support/mysql_checks.hpp"
#include "test/mysql_e2e/support/mysql_env.hpp"
#include "test/support/wait.hpp"

#include <catch2/catch.hpp>
#include <sstream>

using namespace std::chrono;
using namespace dbuser::test::e2e;
using dbuser::test::wait_until;

namespace {

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

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
    auto out = env.base.k8s.must({"get", "myuser", name, "-n", env.base.ns});
    std::istringstream lines(out);
    std::string header;
    std::string row;
    std::getline(lines, header);
    std::getline(lines, row);
    CHECK(words(header)
          == std::vector<std::string>{"NAME", "USERNAME", "DATABASE", "READY", "REASON", "AGE"});
    auto cells = words(row);
    REQUIRE(cells.size() == 6);
    CHECK(cells[0] == name);
    CHECK(cells[1] == username);
    CHECK(cells[2] == database);
    CHECK(cells[3] == "True");
    CHECK(cells[4] == "Reconciled");
  }
  CHECK_NO_SECRETS_IN_LOG(env.base);
}

// (No semicolon in test names: ctest's test list would split them.)
TEST_CASE("deleting a MySQLUser drops its account, its ownership row and its Secret, and leaves "
          "the database and its data") {
  mysql_env env;
  const auto name = env.base.object_name("my-doomed");
  const auto username = env.account_name("my_doomed");
  const auto database = env.database_name("my_doomed_db");
  const auto secret_name = env.base.object_name("my-doomed-creds");
  env.apply(env.user_manifest(name, username, database, secret_name));
  REQUIRE_MYSQL_READY(env, name, seconds(30));
  REQUIRE(env.login_with_secret(secret_name).empty());
  const auto password = env.secret(secret_name)->at("password");
  REQUIRE(env.db.exec_as(username, password, database, "SELECT 1").empty());
  env.db.exec({"CREATE TABLE kept (id int)", "INSERT INTO kept VALUES (42)"}, database);

  env.base.k8s.remove(myuser, env.base.ns, name);
  if (!env.wait_gone(name, seconds(30)))
    FAIL("the MySQLUser is still there\n" << env.describe(name));

  CHECK_FALSE(env.db.account_exists(username));
  CHECK_FALSE(env.db.owner_row(username));
  CHECK_FALSE(env.db.login_error(username, password).empty());
  CHECK_FALSE(env.base.k8s.get("secret", env.base.ns, secret_name));
  CHECK(env.db.value("SELECT id FROM " + mariadb::ident(database) + ".kept") == "42");
  CHECK_NO_SECRETS_IN_LOG(env.base);
}

TEST_CASE("deleting a MySQLUser with deletionPolicy Retain leaves its account, still logging in") {
  mysql_env env;
  const auto name = env.base.object_name("my-kept");
  const auto username = env.account_name("my_kept");
  const auto database = env.database_name("my_kept_db");
  const auto secret_name = env.base.object_name("my-kept-creds");
  auto user = env.user_manifest(name, username, database, secret_name);
  user["spec"]["deletionPolicy"] = "Retain";
  env.apply(user);
  REQUIRE_MYSQL_READY(env, name, seconds(30));
  const auto password = env.secret(secret_name)->at("password");
  const auto before = env.db.account_hash(username);
  REQUIRE(before);

  env.base.k8s.remove(myuser, env.base.ns, name);
  if (!env.wait_gone(name, seconds(30)))
    FAIL("the MySQLUser is still there\n" << env.describe(name));

  CHECK(env.db.account_hash(username) == before);
  CHECK(env.db.login_error(username, password, database).empty());
  CHECK(env.db.exec_as(username, password, database, "SELECT 1").empty());
  CHECK_NO_SECRETS_IN_LOG(env.base);
}

TEST_CASE("an account made by hand before the MySQLUser is not adopted: RoleConflict, its "
          "password unchanged, and deleting the MySQLUser leaves it") {
  mysql_env env;
  const auto name = env.base.object_name("my-squat");
  const auto username = env.account_name("my_squat");
  const auto database = env.database_name("my_squat_db");
  const auto secret_name = env.base.object_name("my-squat-creds");
  const std::string their_password = "the-dba-chose-this-password-0123456789";
  env.base.remember_password(their_password);
  env.db.exec({"CREATE USER " + mariadb::literal(username) + "@'%' IDENTIFIED BY "
               + mariadb::literal(their_password)});
  const auto before = env.db.account_hash(username);
  REQUIRE(before);

  env.apply(env.user_manifest(name, username, database, secret_name));
  REQUIRE_MYSQL_CONDITION(env, name, seconds(30), "False", "RoleConflict");
  CHECK_THAT(env.ready(name).message, Catch::Contains(username));
  // The operator retries on every resync (5 s): several refusals later nothing has changed.
  REQUIRE(wait_until(
      [&] {
        return env.base.op->log_lines_with({name, "(RoleConflict)"}).size() >= 2;
      },
      seconds(40), milliseconds(200)));
  CHECK(env.db.account_hash(username) == before);
  CHECK(env.db.login_error(username, their_password).empty());
  CHECK_FALSE(env.db.owner_row(username));
  CHECK(env.db.value("SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = "
                     + mariadb::literal("'" + username + "'@'%'"))
        == "0");
  CHECK_FALSE(env.base.k8s.get("secret", env.base.ns, secret_name));
  CHECK(env.ready(name).reason == "RoleConflict");

  env.base.k8s.remove(myuser, env.base.ns, name);
  if (!env.wait_gone(name, seconds(30)))
    FAIL("the MySQLUser is still there\n" << env.describe(name));
  CHECK(env.db.account_hash(username) == before);
  CHECK(env.db.login_error(username, their_password).empty());
  CHECK_NO_SECRETS_IN_LOG(env.base);
}
