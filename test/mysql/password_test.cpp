#include "mysql/password.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::mysql;

TEST_CASE("the mysql_native_password hash matches the server's PASSWORD()") {
  // SELECT PASSWORD('password') on MariaDB and MySQL 5.7.
  CHECK(*native_password_hash("password") == "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19");
  CHECK(*native_password_hash("correct horse battery staple")
        != *native_password_hash("correct horse battery stapl"));
}

TEST_CASE("the hash hides the password and has the server's shape") {
  auto h = native_password_hash("hunter2hunter2hunter2hunter2hunter2");
  REQUIRE(h);
  CHECK(h->find("hunter2") == std::string::npos);
  CHECK(is_native_password_hash(*h));
  CHECK(h->size() == 41);
}

TEST_CASE("an empty password has no hash") {
  auto h = native_password_hash("");
  REQUIRE_FALSE(h);
  CHECK(h.error().kind == error_kind::invalid);
}

TEST_CASE("only * and 40 hex digits look like a hash") {
  for (const char* hash :
       {"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19", "*2470c0c06dee42fd1618bb99005adca2ec9d1e19"}) {
    INFO(hash);
    CHECK(is_native_password_hash(hash));
  }
  for (const char* not_hash : {"2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19", // no *
                               "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E1", // 39 digits
                               "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E1G", "password"}) {
    INFO(not_hash);
    CHECK_FALSE(is_native_password_hash(not_hash));
  }
}
