// Hostile MySQLUser specs (issue 10): SQL smuggled into username, accountHost, database, grants
// and privileges is refused, by the CRD schema when kubectl applies it or by the operator's
// validation (Ready=False InvalidSpec), and nothing in MariaDB is harmed.
#include "test/e2e/support/prelude.hpp"
#include "test/mysql_e2e/support/mysql_checks.hpp"
#include "test/mysql_e2e/support/mysql_env.hpp"

#include <algorithm>
#include <functional>
#include <regex>
#include <set>
#include <unistd.h>

namespace {

// A field of the spec and the hostile value put there.
struct attempt {
  std::string field; // as the API server names it: spec.username, spec.grants[0].database, ...
  std::function<void(json& spec)> poison;
};

// Other tests run beside this one (ctest -j) and make, rotate and drop accounts and databases of
// their own, named <prefix>_<pid>_<n> (unique_name): those of another process are theirs to
// change. The tests that make hostile names on purpose (mysql_integration_test) hold the lock
// mariadb_names, as the cases here do.
bool another_tests(const std::string& name) {
  static const std::regex made(".*_([0-9]+)_[0-9]+");
  std::smatch m;
  return std::regex_match(name, m, made) && m[1].str() != std::to_string(::getpid());
}

// What a reader of the server sees as "the world" that must not change: every account as it was
// (hash included) and every database that existed, but other tests' own.
struct world {
  std::vector<account_row> accounts;
  std::set<std::string> databases;
};

world snapshot(const mariadb& db) {
  world w;
  for (auto& a : db.accounts())
    if (!another_tests(a.user))
      w.accounts.push_back(std::move(a));
  std::sort(w.accounts.begin(), w.accounts.end());
  for (const auto& r : db.rows("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"))
    if (!another_tests(r[0]))
      w.databases.insert(r[0]);
  return w;
}

// What matters is that nothing that was there changed or vanished, and that nothing with a piece
// of a payload in its name appeared.
void check_unharmed(const mariadb& db, const world& before) {
  const auto after = snapshot(db);
  for (const auto& a : before.accounts) {
    INFO("account '" << a.user << "'@'" << a.host << "'");
    auto it = std::find_if(after.accounts.begin(), after.accounts.end(), [&](const account_row& b) {
      return b.user == a.user && b.host == a.host;
    });
    REQUIRE(it != after.accounts.end());
    CHECK(it->authentication_string == a.authentication_string);
  }
  for (const auto& d : before.databases) {
    INFO("database " << d);
    CHECK(after.databases.count(d) == 1);
  }
  auto hostile = [](const std::string& s) {
    return s.find_first_of("'`; \\\"*()") != std::string::npos || s.find("--") != std::string::npos;
  };
  for (const auto& a : after.accounts) {
    INFO("account '" << a.user << "'@'" << a.host << "'");
    CHECK_FALSE(hostile(a.user));
    CHECK_FALSE(hostile(a.host));
  }
  for (const auto& d : after.databases) {
    INFO("database " << d);
    CHECK_FALSE(hostile(d));
  }
}

} // namespace

TEST_CASE("SQL smuggled into username, accountHost, database, grants or privileges is refused by "
          "the CRD schema at apply and nothing is harmed",
          "[lock:mariadb_names]") {
  mysql_env env;
  const auto sentinel = env.database_name("my_sentinel");
  env.db.exec({"CREATE DATABASE " + mariadb::ident(sentinel),
               "CREATE TABLE " + mariadb::ident(sentinel) + ".t (id int)",
               "INSERT INTO " + mariadb::ident(sentinel) + ".t VALUES (7)"});
  const auto before = snapshot(env.db);
  const auto admin = mariadb::literal(env.db.admin_user());
  const auto drop_sentinel = "DROP DATABASE " + mariadb::ident(sentinel);

  const std::vector<attempt> attempts{
      {"spec.username",
       [&](json& s) { s["username"] = "x'@'%' IDENTIFIED BY 'pw'; DROP USER " + admin + "@'%'; --"; }},
      {"spec.username", [&](json& s) { s["username"] = "x`; " + drop_sentinel + "; --"; }},
      {"spec.username", [](json& s) { s["username"] = "a\\' OR 1=1 -- "; }},
      {"spec.username", [](json& s) { s["username"] = "root"; }},
      {"spec.username", [](json& s) { s["username"] = "mysql.sys"; }},
      {"spec.username", [](json& s) { s["username"] = std::string(33, 'a'); }},
      {"spec.accountHost", [](json& s) { s["accountHost"] = "%' IDENTIFIED BY 'pw"; }},
      {"spec.accountHost",
       [&](json& s) { s["accountHost"] = "localhost'; DROP USER " + admin + "@'localhost'; --"; }},
      {"spec.accountHost", [](json& s) { s["accountHost"] = "%`"; }},
      {"spec.database", [&](json& s) { s["database"] = "x`; " + drop_sentinel + "; --"; }},
      {"spec.database", [&](json& s) { s["database"] = "x'; " + drop_sentinel + "; --"; }},
      {"spec.database", [](json& s) { s["database"] = "*"; }},
      {"spec.database", [](json& s) { s["database"] = "mysql"; }},
      {"spec.database", [](json& s) { s["database"] = "dbuser_operator"; }},
      {"spec.privileges",
       [&](json& s) { s["privileges"] = {"SELECT; " + drop_sentinel}; }},
      {"spec.privileges",
       [](json& s) {
         s["privileges"] = {"ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION; --"};
       }},
      {"spec.privileges", [](json& s) { s["privileges"] = {"SUPER"}; }},
      {"spec.privileges", [](json& s) { s["privileges"] = {"FILE"}; }},
      {"spec.privileges", [](json& s) { s["privileges"] = {"GRANT OPTION"}; }},
      {"spec.grants[0].database",
       [](json& s) {
         s["grants"] = {{{"database", "x`.* TO 'a'@'%'; --"}, {"privileges", {"SELECT"}}}};
       }},
      {"spec.grants[0].privileges",
       [](json& s) {
         s["grants"] = {{{"database", "fine_db"}, {"privileges", {"SELECT ON *.*"}}}};
       }},
  };

  for (std::size_t i = 0; i < attempts.size(); ++i) {
    const auto& a = attempts[i];
    const auto name = env.base.object_name("my-hostile");
    auto manifest = env.user_manifest(name, env.account_name("my_hostile"),
                                      env.database_name("my_hostile_db"),
                                      env.base.object_name("my-hostile-creds"));
    a.poison(manifest["spec"]);
    INFO("attempt " << i << ": " << manifest["spec"].dump());
    auto r = env.try_apply(manifest);
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.err, Catch::Contains(a.field));
    CHECK_FALSE(env.user(name));
  }

  check_unharmed(env.db, before);
  CHECK(env.db.value("SELECT id FROM " + mariadb::ident(sentinel) + ".t") == "7");
  CHECK(env.db.login_error(env.db.admin_user(), env.db.admin_password()).empty());
  CHECK_NO_SECRETS_IN_LOG(env.base);
}

TEST_CASE("what the schema lets through but validation refuses (system databases in another "
          "case, a grant on mysql) is Ready=False InvalidSpec and creates nothing",
          "[lock:mariadb_names]") {
  mysql_env env;
  const auto before = snapshot(env.db);

  const std::vector<attempt> attempts{
      {"spec.database", [](json& s) { s["database"] = "MySQL"; }},
      {"spec.database", [](json& s) { s["database"] = "Information_Schema"; }},
      {"spec.database", [](json& s) { s["database"] = "DBUSER_OPERATOR"; }},
      {"spec.grants[0].database",
       [](json& s) { s["grants"] = {{{"database", "mysql"}, {"privileges", {"ALL"}}}}; }},
      {"spec.grants[0].database",
       [](json& s) { s["grants"] = {{{"database", "dbuser_operator"}, {"privileges", {"ALL"}}}}; }},
  };

  struct applied {
    std::string name, username, secret, field;
  };
  std::vector<applied> objects;
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    const auto& a = attempts[i];
    applied o{env.base.object_name("my-invalid"), env.account_name("my_invalid"),
              env.base.object_name("my-invalid-creds"), a.field};
    auto manifest = env.user_manifest(o.name, o.username, env.database_name("my_invalid_db"),
                                      o.secret);
    a.poison(manifest["spec"]);
    INFO("attempt " << i << ": " << manifest["spec"].dump());
    auto r = env.try_apply(manifest);
    REQUIRE(r.ok());
    objects.push_back(o);
  }
  for (const auto& o : objects) {
    INFO(o.field << "\n" << env.describe(o.name));
    REQUIRE_MYSQL_CONDITION(env, o.name, seconds(30), "False", "InvalidSpec");
    CHECK_THAT(env.ready(o.name).message, Catch::Contains(o.field));
  }
  for (const auto& o : objects) {
    INFO(o.name);
    CHECK_FALSE(env.db.account_exists(o.username));
    CHECK_FALSE(env.db.owner_row(o.username));
    CHECK_FALSE(env.base.k8s.get("secret", env.base.ns, o.secret));
  }
  check_unharmed(env.db, before);
  // No database was created under a folded system name either.
  for (const auto& d : {"MySQL", "Information_Schema", "DBUSER_OPERATOR"})
    CHECK(env.db.value("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE BINARY SCHEMA_NAME = "
                       + mariadb::literal(d))
          == "0");
  CHECK_NO_SECRETS_IN_LOG(env.base);
}
