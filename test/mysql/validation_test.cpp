#include "mysql/validation.hpp"
#include "test/support/engine_checks.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace dbuser::mysql;
using dbuser::test::reason;

TEST_CASE("ordinary user names are accepted") {
  for (const auto& name : {std::string("myapp"), std::string("_svc_1"), std::string(32, 'a')}) {
    INFO(name);
    CHECK(validate_user_name(name, "root"));
  }
}

TEST_CASE("a user name of 33 bytes is refused: MySQL keeps 32") {
  auto r = validate_user_name(std::string(33, 'a'), "root");
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == error_kind::invalid);
  CHECK_THAT(reason(r), Catch::Contains("33 bytes") && Catch::Contains("32"));
}

TEST_CASE("user names with quotes, backslashes or other characters are refused") {
  for (const std::string& bad :
       std::vector<std::string>{"x'@'%'; DROP USER root; --", "a\\b", "my-app", "MyApp", "1app", "a b", "a`b",
        std::string("a\0b", 3)}) {
    INFO(bad);
    auto r = validate_user_name(bad, "root");
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == error_kind::invalid);
  }
  CHECK_THAT(reason(validate_user_name("a'b", "root")), Catch::Contains("^[a-z_][a-z0-9_]*$"));
}

TEST_CASE("reserved user names are refused with a reason") {
  CHECK_THAT(reason(validate_user_name("root", "admin")), Catch::Contains("superuser"));
  CHECK_THAT(reason(validate_user_name("mysql.sys", "admin")), Catch::Contains("system account"));
  CHECK_THAT(reason(validate_user_name("mysql.session", "admin")), Catch::Contains("system"));
  CHECK_THAT(reason(validate_user_name("mariadb.sys", "admin")), Catch::Contains("system"));
  CHECK_THAT(reason(validate_user_name("mysql", "admin")), Catch::Contains("reserved"));
  CHECK_THAT(reason(validate_user_name("dbadmin", "dbadmin")), Catch::Contains("admin user"));
  CHECK_THAT(reason(validate_user_name("", "admin")), Catch::Contains("empty"));
}

TEST_CASE("account hosts: any, localhost, addresses, patterns and DNS names are accepted") {
  for (const char* ok : {"%", "localhost", "127.0.0.1", "::1", "fe80::1", "10.0.0.%",
                         "app.example.com",
                         "%.example.com", "db-1.internal"})
    CHECK(validate_account_host(ok));
  CHECK(validate_account_host(std::string(255, 'h')));
}

TEST_CASE("account hosts with quotes, spaces or too long are refused") {
  for (const std::string& bad : std::vector<std::string>{"%' OR '1'='1", "a b", "a\\b", "host`", "a/b", "x@y", ""}) {
    INFO(bad);
    CHECK_FALSE(validate_account_host(bad));
  }
  CHECK_THAT(reason(validate_account_host(std::string(256, 'h'))), Catch::Contains("255"));
  CHECK_THAT(reason(validate_account_host("")), Catch::Contains("%"));
}

TEST_CASE("database names are checked and system databases refused") {
  CHECK(validate_database_name("appdb"));
  CHECK(validate_database_name("My-App_1"));
  CHECK(validate_database_name(std::string(64, 'd')));
  CHECK_FALSE(validate_database_name(std::string(65, 'd')));
  CHECK_FALSE(validate_database_name("db`; DROP DATABASE mysql; --"));
  CHECK_FALSE(validate_database_name("app%"));
  CHECK_FALSE(validate_database_name(""));
  for (const char* sys : {"mysql", "information_schema", "performance_schema", "sys", "MySQL",
                          "SYS"})
    CHECK_THAT(reason(validate_database_name(sys)), Catch::Contains("system database"));
  CHECK_THAT(reason(validate_database_name("dbuser_operator")),
             Catch::Contains("operator records"));
}

TEST_CASE("a hostile name is shown shortened and without control characters") {
  auto r = validate_user_name(std::string("a\nb") + std::string(200, 'x'), "root");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find('\n') == std::string::npos);
  CHECK(r.error().message.size() < 200);
}
