#include "mysql/privileges.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::mysql;

TEST_CASE("privileges are normalised, merged and printed in canonical order") {
  auto s = parse_privileges({"insert", " SELECT ", "Select", "create   view", "show view"});
  REQUIRE(s);
  CHECK(s->to_string() == "SELECT, INSERT, CREATE VIEW, SHOW VIEW");
}

TEST_CASE("ALL expands to the allowlist, never to the server's ALL PRIVILEGES") {
  auto s = parse_privileges({"all"});
  REQUIRE(s);
  CHECK(*s == privilege_set::all());
  CHECK(s->to_string()
        == "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES, CREATE VIEW, "
           "SHOW VIEW, TRIGGER, EXECUTE");
  CHECK(*parse_privileges({"SELECT", "ALL PRIVILEGES"}) == privilege_set::all());
}

TEST_CASE("privileges outside the allowlist and injection attempts are refused") {
  for (const char* bad :
       {"SUPER", "GRANT OPTION", "FILE", "PROCESS", "LOCK TABLES", "CREATE USER", "EVENT",
        "SELECT ON *.* TO x", "SELECT; DROP DATABASE mysql", "SELECT,INSERT", ""}) {
    INFO(bad);
    auto r = parse_privileges({bad});
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == error_kind::invalid);
  }
  CHECK_THAT(parse_privileges({"FILE"}).error().message,
             Catch::Contains("\"FILE\"") && Catch::Contains("CREATE VIEW"));
}

TEST_CASE("an empty list is valid and set operations are exact") {
  CHECK(parse_privileges({})->empty());
  const privilege_set a{privilege::select, privilege::insert, privilege::execute};
  const privilege_set b{privilege::insert};
  CHECK(a.minus(b) == privilege_set{privilege::select, privilege::execute});
  CHECK(a.intersect(b) == b);
  CHECK(b.unite(privilege_set{privilege::trigger}).to_string() == "INSERT, TRIGGER");
  privilege p{};
  CHECK(dbuser::from_keyword("SHOW VIEW", p));
  CHECK(p == privilege::show_view);
  CHECK_FALSE(dbuser::from_keyword("LOCK TABLES", p));
}
