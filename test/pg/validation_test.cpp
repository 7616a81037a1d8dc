#include "pg/validation.hpp"
#include "test/support/engine_checks.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <utility>

using namespace dbuser::pg;
using dbuser::test::reason;

TEST_CASE("ordinary role names are accepted") {
  for (const auto& name : {std::string("myapp"), std::string("_svc_1"), std::string(63, 'a')}) {
    INFO(name);
    CHECK(validate_role_name(name, "admin"));
  }
}

TEST_CASE("a role name with a quote is rejected") {
  auto r = validate_role_name("x\"; DROP ROLE postgres; --", "admin");
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == error_kind::invalid);
  CHECK_THAT(reason(r), Catch::Contains("must match ^[a-z_][a-z0-9_]*$"));
  CHECK_FALSE(validate_role_name("Robert'); DROP TABLE t;--", "admin"));
}

TEST_CASE("a role name of 64 bytes is rejected instead of being truncated") {
  auto r = validate_role_name(std::string(64, 'a'), "admin");
  REQUIRE_FALSE(r);
  CHECK_THAT(reason(r), Catch::Contains("64 bytes") && Catch::Contains("truncate"));
}

TEST_CASE("reserved role names are rejected with a reason") {
  CHECK_THAT(reason(validate_role_name("pg_x", "admin")), Catch::Contains("pg_"));
  CHECK_THAT(reason(validate_role_name("postgres", "admin")), Catch::Contains("superuser"));
  CHECK_THAT(reason(validate_role_name("public", "admin")), Catch::Contains("PUBLIC"));
  CHECK_THAT(reason(validate_role_name("admin", "admin")), Catch::Contains("admin user"));
  CHECK_THAT(reason(validate_role_name("", "admin")), Catch::Contains("empty"));
  for (const auto& name : {std::string("MyApp"), std::string("1app"), std::string("my-app"),
                           std::string("a\0b", 3)}) {
    INFO(name);
    CHECK_FALSE(validate_role_name(name, "admin"));
  }
}

TEST_CASE("database and schema names are checked") {
  const std::pair<std::string, bool> databases[] = {
    {"myapp_db", true},    {"My-App", true},     {"db\"; DROP DATABASE x; --", false},
    {std::string(64, 'd'), false}, {"template1", false}, {"", false},
  };
  for (const auto& [name, ok] : databases) {
    INFO("database " << name);
    CHECK(static_cast<bool>(validate_database_name(name)) == ok);
  }
  const std::pair<std::string, bool> schemas[] = {
    {"public", true}, {"pg_catalog", false}, {"information_schema", false}, {"a b", false}};
  for (const auto& [name, ok] : schemas) {
    INFO("schema " << name);
    CHECK(static_cast<bool>(validate_schema_name(name)) == ok);
  }
}

TEST_CASE("a hostile name is shown shortened and without control characters") {
  auto r = validate_role_name(std::string("a\nb") + std::string(200, 'x'), "admin");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find('\n') == std::string::npos);
  CHECK(r.error().message.size() < 200);
}

TEST_CASE("memberOf accepts the predefined roles applications and exporters need, and no other "
          "pg_ role") {
  for (const char* ok : {"pg_monitor", "pg_read_all_stats", "pg_stat_scan_tables",
                         "pg_signal_backend", "pg_read_all_data", "pg_write_all_data", "readers"})
    CHECK(validate_member_of(ok, "admin"));
  for (const char* refused : {"pg_execute_server_program", "pg_read_server_files",
                              "pg_write_server_files", "pg_database_owner", "pg_anything"}) {
    auto r = validate_member_of(refused, "admin");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("is not a predefined role memberOf grants"));
  }
  CHECK_FALSE(validate_member_of("postgres", "admin"));
  CHECK_FALSE(validate_member_of("admin", "admin"));
  CHECK(find_predefined_role("pg_read_all_data")->since == 140000);
  CHECK(find_predefined_role("pg_monitor")->since == 100000);
  CHECK(find_predefined_role("myapp") == nullptr);
}
