#include "pg/privileges.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::pg;

TEST_CASE("privileges are normalised in case, order and duplicates") {
  auto p = parse_privileges({"delete", " Select ", "SELECT", "insert"});
  REQUIRE(p);
  CHECK(p->to_string() == "SELECT, INSERT, DELETE");
}

TEST_CASE("ALL expands to every table privilege") {
  auto p = parse_privileges({"all"});
  REQUIRE(p);
  CHECK(p->to_string() == "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER");
  CHECK(*parse_privileges({"ALL PRIVILEGES", "SELECT"}) == privilege_set::all());
}

TEST_CASE("a privilege outside the allowlist is rejected with a reason") {
  for (const char* bad : {"CREATE", "SELECT; DROP TABLE t", "USAGE", "", "SUPERUSER"}) {
    auto p = parse_privileges({"SELECT", bad});
    REQUIRE_FALSE(p);
    CHECK(p.error().kind == error_kind::invalid);
    CHECK_THAT(p.error().message, Catch::Contains("is not allowed"));
  }
}

TEST_CASE("an empty privilege list is valid and empty") {
  auto p = parse_privileges({});
  REQUIRE(p);
  CHECK(p->empty());
}

TEST_CASE("privilege sets subtract and unite") {
  privilege_set a{privilege::select, privilege::insert, privilege::truncate};
  privilege_set b{privilege::insert};
  CHECK(a.minus(b).to_string() == "SELECT, TRUNCATE");
  CHECK(b.unite(privilege_set{privilege::trigger}).to_string() == "INSERT, TRIGGER");
  CHECK(a.intersect(b) == b);
}

TEST_CASE("sequence privileges come from their own allowlist") {
  auto p = parse_sequence_privileges({"usage", " SELECT "});
  REQUIRE(p);
  CHECK(*p == sequence_privilege_set{sequence_privilege::usage, sequence_privilege::select});
  CHECK(*parse_sequence_privileges({"ALL"}) == sequence_privilege_set::all());
  CHECK(parse_sequence_privileges({})->empty());
  auto bad = parse_sequence_privileges({"INSERT"});
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("use USAGE, SELECT, UPDATE or ALL"));
}
