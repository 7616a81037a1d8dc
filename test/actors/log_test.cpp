#include "common/log.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

TEST_CASE("a JSON log line is valid JSON even with quotes and newlines in the message") {
  auto line = dbuser::log::json_line("t", "info", "", "said \"hi\"\nand left\\");
  auto j = nlohmann::json::parse(line);
  CHECK(j["msg"] == "said \"hi\"\nand left\\");
  CHECK(j["logger"] == "dbuser-operator");
}

TEST_CASE("a JSON log line names the resource a message is about") {
  auto j = nlohmann::json::parse(
    dbuser::log::json_line("t", "warning", "x", "team-a/app-user: role conflict"));
  CHECK(j["namespace"] == "team-a");
  CHECK(j["name"] == "app-user");
  CHECK(j["msg"] == "role conflict");
  auto plain = nlohmann::json::parse(dbuser::log::json_line("t", "info", "x", "started: ok"));
  CHECK_FALSE(plain.contains("namespace"));
}
