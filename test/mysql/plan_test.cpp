#include "mysql/plan.hpp"
#include "test/support/engine_checks.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace dbuser::mysql;
using dbuser::test::sqls;

namespace {

const std::string hash = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19";

desired_account desired() {
  desired_account d;
  d.user = "app";
  d.host = "%";
  d.owner = "ns/app";
  d.grants.push_back(database_grant{"app_db", {privilege::select, privilege::insert}, true});
  d.password_hash = hash;
  return d;
}

observed_state converged_state() {
  observed_state o;
  o.account.exists = true;
  o.account.owner = "ns/app";
  o.databases.push_back(observed_database{"app_db", true});
  o.grants.push_back(observed_grant{"app\\_db", {privilege::select, privilege::insert}, {}, false});
  return o;
}

} // namespace

TEST_CASE("a new account is claimed before it is created, then granted") {
  observed_state o;
  o.databases.push_back(observed_database{"app_db", false});
  auto p = plan(desired(), o);
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{
          "CREATE DATABASE IF NOT EXISTS `app_db`",
          "CREATE DATABASE IF NOT EXISTS `dbuser_operator`",
          (*p)[2].sql, // the owners table
          "INSERT INTO `dbuser_operator`.`owners` (`user`, `host`, `owner`) VALUES ('app', '%', "
          "'ns/app')",
          "CREATE USER 'app'@'%' IDENTIFIED WITH mysql_native_password AS '" + hash
            + "' WITH MAX_USER_CONNECTIONS 0",
          "GRANT SELECT, INSERT ON `app\\_db`.* TO 'app'@'%'",
        });
  const auto& create = (*p)[4];
  CHECK(create.sensitive);
  CHECK(create.description == "created account 'app'@'%'");
  CHECK(create.undo
        == "DELETE FROM `dbuser_operator`.`owners` WHERE `user` = 'app' AND `host` = '%' AND "
           "`owner` = 'ns/app'");
  CHECK((*p)[5].description == "granted SELECT, INSERT on app_db.*");
  for (const auto& a : *p)
    if (!a.sensitive)
      CHECK(a.sql.find(hash) == std::string::npos);
}

TEST_CASE("a leftover claim of ours is reused, not inserted again") {
  observed_state o;
  o.account.owner = "ns/app";
  o.databases.push_back(observed_database{"app_db", true});
  auto p = plan(desired(), o);
  REQUIRE(p);
  CHECK((*p)[0].sql.rfind("CREATE USER", 0) == 0);
}

TEST_CASE("a converged account plans nothing") {
  auto p = plan(desired(), converged_state());
  REQUIRE(p);
  CHECK(p->empty());
}

TEST_CASE("an account that exists without our claim is never adopted") {
  auto o = converged_state();
  o.account.owner.reset();
  auto p = plan(desired(), o);
  REQUIRE_FALSE(p);
  CHECK(p.error().kind == error_kind::conflict);
  CHECK_THAT(p.error().message, Catch::Contains("not managed"));
  CHECK(ownership_of(o.account, "ns/app").state == ownership::unmanaged);
}

TEST_CASE("an account or a claim of another resource is refused") {
  auto o = converged_state();
  o.account.owner = "other/x";
  auto p = plan(desired(), o);
  REQUIRE_FALSE(p);
  CHECK(p.error().kind == error_kind::conflict);
  CHECK_THAT(p.error().message, Catch::Contains("other/x"));
  observed_state pending;
  pending.account.owner = "other/x";
  CHECK(ownership_of(pending.account, "ns/app").state == ownership::owned_by_other);
  CHECK(ownership_of(observed_account{}, "ns/app").state == ownership::absent);
  CHECK(ownership_of(converged_state().account, "ns/app").state == ownership::ours);
}

TEST_CASE("privileges are added and removed to match, extras and grant options revoked") {
  auto d = desired();
  d.grants[0].privileges = {privilege::select, privilege::update};
  auto o = converged_state();
  o.grants[0].other = {"LOCK TABLES"};
  o.grants[0].grant_option = true;
  o.grants.push_back(observed_grant{"old\\_db", {privilege::select}, {"EVENT"}, false});
  o.account.global_privileges = {"PROCESS"};
  o.account.global_grant_option = true;
  o.account.max_user_connections = 3;
  auto p = plan(d, o);
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{
          "REVOKE ALL PRIVILEGES ON *.* FROM 'app'@'%'",
          "REVOKE GRANT OPTION ON *.* FROM 'app'@'%'",
          "ALTER USER 'app'@'%' WITH MAX_USER_CONNECTIONS 0",
          "GRANT UPDATE ON `app\\_db`.* TO 'app'@'%'",
          "REVOKE INSERT ON `app\\_db`.* FROM 'app'@'%'",
          "REVOKE LOCK TABLES ON `app\\_db`.* FROM 'app'@'%'",
          "REVOKE GRANT OPTION ON `app\\_db`.* FROM 'app'@'%'",
          "REVOKE SELECT ON `old\\_db`.* FROM 'app'@'%'",
          "REVOKE EVENT ON `old\\_db`.* FROM 'app'@'%'",
        });
  CHECK((*p)[3].description == "granted UPDATE on app_db.*");
  CHECK((*p)[4].description == "revoked INSERT on app_db.*");
}

TEST_CASE("a hand-made wildcard grant is not mistaken for the escaped one") {
  auto o = converged_state();
  o.grants.push_back(observed_grant{"app_db", {privilege::drop}, {}, false}); // matches appXdb
  auto p = plan(desired(), o);
  REQUIRE(p);
  CHECK(sqls(*p) == std::vector<std::string>{"REVOKE DROP ON `app_db`.* FROM 'app'@'%'"});
}

TEST_CASE("grants on one database are merged and the host is compared lower-cased") {
  auto d = desired();
  d.host = "LocalHost";
  d.grants.push_back(database_grant{"app_db", {privilege::execute}, false});
  observed_state o;
  o.databases.push_back(observed_database{"app_db", true});
  auto p = plan(d, o);
  REQUIRE(p);
  CHECK(p->back().sql == "GRANT SELECT, INSERT, EXECUTE ON `app\\_db`.* TO 'app'@'localhost'");
}

TEST_CASE("a missing account without a hash, or a database that may not be created, is invalid") {
  auto d = desired();
  d.password_hash.clear();
  observed_state o;
  o.databases.push_back(observed_database{"app_db", true});
  auto p = plan(d, o);
  REQUIRE_FALSE(p);
  CHECK(p.error().kind == error_kind::invalid);
  d = desired();
  d.grants[0].create_database = false;
  observed_state none;
  auto q = plan(d, none);
  REQUIRE_FALSE(q);
  CHECK_THAT(q.error().message, Catch::Contains("app_db does not exist"));
}
