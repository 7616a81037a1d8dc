#include "mysql/error.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::mysql;

TEST_CASE("connection losses and lock conflicts are transient") {
  for (unsigned code : {2002U, 2003U, 2006U, 2013U, 1053U, 1213U, 1205U, 1040U, 1203U}) {
    INFO(code);
    CHECK(server_error(code, "HY000", "x", "ctx").transient());
  }
  CHECK(kind_of_code(2013) == error_kind::unavailable);
  CHECK(kind_of_code(1213) == error_kind::transient);
}

TEST_CASE("authentication, privilege, syntax and conflicts are permanent") {
  CHECK(kind_of_code(1045) == error_kind::auth);
  CHECK(kind_of_code(1044) == error_kind::permission);
  CHECK(kind_of_code(1142) == error_kind::permission);
  CHECK(kind_of_code(1227) == error_kind::permission);
  CHECK(kind_of_code(1396) == error_kind::conflict);
  CHECK(kind_of_code(1064) == error_kind::invalid);
  CHECK(kind_of_code(2026) == error_kind::invalid);
  CHECK(kind_of_code(9999) == error_kind::internal);
  for (unsigned code : {1045U, 1044U, 1396U, 1064U})
    CHECK_FALSE(server_error(code, "42000", "x", "").transient());
}

TEST_CASE("a syntax error never echoes the statement nor a hash") {
  // What MariaDB 10.11 answers to a broken ALTER USER: the rest of the statement is quoted.
  const std::string server =
    "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB "
    "server version for the right syntax to use near 'AS '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' "
    "BOGUS' at line 1";
  error e = server_error(1064, "42000", server, "while setting the password of 'app'@'%'");
  CHECK(e.message.find("2470C0C0") == std::string::npos);
  CHECK(e.message.find("BOGUS") == std::string::npos);
  CHECK_THAT(e.message, Catch::EndsWith("near <statement> at line 1"));
  CHECK(e.to_string()
        == "while setting the password of 'app'@'%': " + e.message
             + " (MySQL error 1064, SQLSTATE 42000)");
}

TEST_CASE("redaction removes known secrets, hashes and truncated echoes") {
  CHECK(redact("Access denied for hunter2hunter2", {"hunter2hunter2"})
        == "Access denied for <redacted>");
  CHECK(redact("bad *2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19 here") == "bad <redacted> here");
  CHECK(redact("syntax near 'IDENTIFIED BY 'secret") == "syntax near <statement>");
  CHECK(redact("two\nlines") == "two lines");
}
