#include "pg/error.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::pg;

TEST_CASE("connection and resource SQLSTATEs are transient") {
  for (const char* s : {"08006", "08001", "40001", "40P01", "53300", "57P01", "57P03", "57014"}) {
    error e = sql_error(s, "x", "ctx");
    INFO(s);
    CHECK(e.transient());
  }
}

TEST_CASE("catalog races between concurrent sessions are retried") {
  // "tuple concurrently updated" when two sessions GRANT on one schema; two CREATE DATABASE.
  CHECK(sql_error("XX000", "tuple concurrently updated", "").transient());
  CHECK(sql_error("23505", "duplicate key value violates unique constraint", "").transient());
}

TEST_CASE("syntax, authorization and privilege SQLSTATEs are permanent") {
  CHECK(kind_of_sqlstate("42501") == error_kind::permission);
  CHECK(kind_of_sqlstate("28P01") == error_kind::auth);
  CHECK(kind_of_sqlstate("28000") == error_kind::auth);
  CHECK(kind_of_sqlstate("42601") == error_kind::invalid);
  CHECK(kind_of_sqlstate("42710") == error_kind::conflict);
  CHECK(kind_of_sqlstate("2BP01") == error_kind::conflict);
  CHECK(kind_of_sqlstate("XX001") == error_kind::internal);
  for (const char* s : {"42501", "28P01", "42601", "42710"})
    CHECK_FALSE(sql_error(s, "x", "").transient());
}

TEST_CASE("an error message never echoes the statement nor a verifier") {
  const std::string server =
    "syntax error at or near \"PASSWORD\"\n"
    "LINE 1: ALTER ROLE \"x\" PASSWORD 'SCRAM-SHA-256$4096:abc$def:ghi' BOGUS\n"
    "                                                                 ^\n";
  error e = sql_error("42601", server, "while setting the password of role x");
  CHECK(e.message == "syntax error at or near \"PASSWORD\"");
  CHECK(e.to_string()
        == "while setting the password of role x: syntax error at or near \"PASSWORD\" "
           "(SQLSTATE 42601)");
}

TEST_CASE("redaction removes known secrets, verifiers and query echoes") {
  CHECK(redact("auth failed for hunter2hunter2", {"hunter2hunter2"}) == "auth failed for <redacted>");
  CHECK(redact("bad SCRAM-SHA-256$4096:a$b:c here") == "bad <redacted> here");
  CHECK(redact("md5 md50123456789abcdef0123456789abcdef x") == "md5 <redacted> x");
  CHECK(redact("failed\nQuery was: CREATE ROLE x PASSWORD 'p'") == "failed");
}
