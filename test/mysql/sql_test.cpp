#include "mysql/sql.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::mysql;

namespace {
const std::string hash = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19";
} // namespace

TEST_CASE("identifiers are in backticks with inner backticks doubled") {
  CHECK(sql::quote_ident("appdb") == "`appdb`");
  CHECK(sql::quote_ident("x`; DROP DATABASE mysql; --") == "`x``; DROP DATABASE mysql; --`");
  CHECK(sql::quote_ident("") == "``");
}

TEST_CASE("literals double single quotes and refuse backslashes and NUL") {
  CHECK(*sql::quote_literal("abc") == "'abc'");
  CHECK(*sql::quote_literal("x'@'%") == "'x''@''%'");
  auto bs = sql::quote_literal("a\\'b");
  REQUIRE_FALSE(bs);
  CHECK_THAT(bs.error().message, Catch::Contains("NO_BACKSLASH_ESCAPES"));
  CHECK_FALSE(sql::quote_literal(std::string("a\0b", 3)));
}

TEST_CASE("account names are two escaped literals") {
  CHECK(*sql::account("app", "%") == "'app'@'%'");
  CHECK(*sql::account("o'brien", "10.0.0.%") == "'o''brien'@'10.0.0.%'");
  CHECK_FALSE(sql::account("app", "h\\"));
}

TEST_CASE("database grant patterns escape the wildcards _ and %") {
  CHECK(sql::database_pattern("app_db") == "app\\_db");
  CHECK(sql::database_pattern("a%b\\c") == "a\\%b\\\\c");
  CHECK(sql::database_pattern("my-app") == "my-app");
}

TEST_CASE("account statements carry only the hash, in the form MariaDB and MySQL 8 accept") {
  CHECK(*sql::create_user("app", "%", hash, 0)
        == "CREATE USER 'app'@'%' IDENTIFIED WITH mysql_native_password AS '" + hash
             + "' WITH MAX_USER_CONNECTIONS 0");
  CHECK(*sql::alter_user_password("app", "localhost", hash)
        == "ALTER USER 'app'@'localhost' IDENTIFIED WITH mysql_native_password AS '" + hash + "'");
  CHECK(*sql::alter_user_max_connections("app", "%", 5)
        == "ALTER USER 'app'@'%' WITH MAX_USER_CONNECTIONS 5");
  CHECK_FALSE(sql::alter_user_max_connections("app", "%", -1));
  CHECK(*sql::drop_user("app", "%") == "DROP USER IF EXISTS 'app'@'%'");
  CHECK(*sql::revoke_global_privileges("app", "%") == "REVOKE ALL PRIVILEGES ON *.* FROM 'app'@'%'");
  CHECK(*sql::revoke_global_grant_option("app", "%") == "REVOKE GRANT OPTION ON *.* FROM 'app'@'%'");
}

TEST_CASE("a plaintext password is refused where a hash is expected") {
  auto r = sql::create_user("app", "%", "password", 0);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == error_kind::invalid);
  CHECK(r.error().message.find("password'") == std::string::npos);
  CHECK_FALSE(sql::alter_user_password("app", "%", "' OR 1=1 --"));
}

TEST_CASE("database statements quote the name and grant on the escaped pattern") {
  CHECK(sql::create_database("app_db") == "CREATE DATABASE IF NOT EXISTS `app_db`");
  const privilege_set p{privilege::select, privilege::create_view};
  CHECK(*sql::grant_on_database(p, sql::database_pattern("app_db"), "app", "%")
        == "GRANT SELECT, CREATE VIEW ON `app\\_db`.* TO 'app'@'%'");
  CHECK(*sql::revoke_on_database(p, "appdb", "app", "%")
        == "REVOKE SELECT, CREATE VIEW ON `appdb`.* FROM 'app'@'%'");
  CHECK(sql::grant_on_database({}, "appdb", "app", "%")->empty());
  CHECK(*sql::revoke_keywords_on_database({"LOCK TABLES", "EVENT"}, "appdb", "app", "%")
        == "REVOKE LOCK TABLES, EVENT ON `appdb`.* FROM 'app'@'%'");
  CHECK_FALSE(sql::revoke_keywords_on_database({"EVENT ON *.* FROM x; --"}, "appdb", "app", "%"));
  CHECK(*sql::revoke_grant_option("appdb", "app", "%")
        == "REVOKE GRANT OPTION ON `appdb`.* FROM 'app'@'%'");
}

TEST_CASE("the ownership table is written with literals only") {
  CHECK(sql::create_bookkeeping_database() == "CREATE DATABASE IF NOT EXISTS `dbuser_operator`");
  CHECK_THAT(sql::create_owners_table(),
             Catch::StartsWith("CREATE TABLE IF NOT EXISTS `dbuser_operator`.`owners` (")
               && Catch::Contains("PRIMARY KEY (`user`, `host`)"));
  CHECK(*sql::claim_owner("app", "%", "ns/app")
        == "INSERT INTO `dbuser_operator`.`owners` (`user`, `host`, `owner`) VALUES ('app', '%', "
           "'ns/app')");
  CHECK(*sql::release_owner("app", "%", "ns/app")
        == "DELETE FROM `dbuser_operator`.`owners` WHERE `user` = 'app' AND `host` = '%' AND "
           "`owner` = 'ns/app'");
  CHECK(*sql::select_owner("app", "%")
        == "SELECT `owner` FROM `dbuser_operator`.`owners` WHERE `user` = 'app' AND `host` = '%'");
}
