#include "api/status.hpp"

#include <catch2/catch.hpp>

using namespace dbuser;
using nlohmann::json;

TEST_CASE("rfc3339 times round-trip") {
  auto t = api::parse_rfc3339("2026-11-26T04:05:06Z");
  REQUIRE(t);
  CHECK(api::rfc3339(*t) == "2026-11-26T04:05:06Z");
  CHECK_FALSE(api::parse_rfc3339("yesterday"));
}

TEST_CASE("the Ready condition keeps its transition time while its status holds") {
  api::status_report r{true, api::reason::reconciled, "role myapp is ready", 2, {}, {}, {}, {}};
  auto first = api::next_status(json(), r, "2026-01-01T00:00:00Z");
  CHECK(first["ready"] == true);
  CHECK(first["observedGeneration"] == 2);
  CHECK(first["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z");

  auto same = api::next_status(first, r, "2026-01-02T00:00:00Z");
  CHECK(same["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z");
  CHECK(api::same_status(first, same));

  api::status_report bad{false, api::reason::database_unreachable, "connection refused", 2,
                        {}, {}, {}, {}};
  auto failed = api::next_status(same, bad, "2026-01-03T00:00:00Z");
  CHECK(failed["conditions"].size() == 1);
  CHECK(failed["conditions"][0]["status"] == "False");
  CHECK(failed["conditions"][0]["reason"] == "DatabaseUnreachable");
  CHECK(failed["conditions"][0]["lastTransitionTime"] == "2026-01-03T00:00:00Z");
  CHECK_FALSE(api::same_status(same, failed));
}

TEST_CASE("other condition types and the previous connection check are kept") {
  json current = {{"conditions", {{{"type", "Other"}, {"status", "True"}}}},
                  {"connection", {{"verified", true}}}};
  api::status_report r{true, api::reason::reconciled, "ok", 1, {}, {}, {}, {}};
  auto next = api::next_status(current, r, "2026-01-01T00:00:00Z");
  CHECK(next["conditions"].size() == 2);
  CHECK(next["connection"]["verified"] == true);
}

TEST_CASE("an unreachable target is described by the class of the failure only") {
  CHECK(api::unreachable_class("while connecting: connection to server at \"10.0.0.1\", port 5432 "
                               "failed: Connection refused\n\tIs the server running on that host?")
        == "connection refused");
  CHECK(api::unreachable_class("connection to server at \"10.0.0.1\", port 5432 failed: timeout "
                               "expired")
        == "timed out");
  CHECK(api::unreachable_class("could not translate host name \"db.internal\" to address: Name or "
                               "service not known")
        == "host name not resolved");
  CHECK(api::unreachable_class("Unknown server host 'db.internal' (-2)")
        == "host name not resolved");
  CHECK(api::unreachable_class("could not connect: No route to host") == "no route to host");
  CHECK(api::unreachable_class("server closed the connection unexpectedly") == "connection closed");
  CHECK(api::unreachable_class("received invalid response to SSL negotiation: H") == "unreachable");
}

TEST_CASE("a verified check is trusted after a restart only for the Secret version, role and "
          "generation it checked") {
  api::connection_check c;
  c.verified = true;
  c.last_check_time = "2026-11-26T04:00:00Z";
  c.secret_version = "812";
  api::status_report r{true, api::reason::reconciled, "ready", 3, c, {}, {}, {}};
  r.logins = api::login_status{"myapp", "", ""};
  const auto status = api::next_status(json(), r, "2026-11-26T04:00:01Z");
  CHECK(status["connection"]["secretResourceVersion"] == "812");

  auto at = api::verified_check_of(status, 3, "myapp", "812");
  REQUIRE(at);
  CHECK(api::rfc3339(*at) == "2026-11-26T04:00:00Z");
  CHECK(api::verified_check_of(status, 3, "", "812")); // MySQL: no login role
  CHECK_FALSE(api::verified_check_of(status, 3, "myapp", "813"));  // the Secret changed since
  CHECK_FALSE(api::verified_check_of(status, 3, "myapp", ""));     // no Secret read
  CHECK_FALSE(api::verified_check_of(status, 4, "myapp", "812"));  // the spec changed since
  CHECK_FALSE(api::verified_check_of(status, 3, "myapp_b", "812")); // another login role

  auto failed = status;
  failed["connection"]["verified"] = false;
  CHECK_FALSE(api::verified_check_of(failed, 3, "myapp", "812"));
  auto older = status; // written before the Secret's version was recorded
  older["connection"].erase("secretResourceVersion");
  CHECK_FALSE(api::verified_check_of(older, 3, "myapp", "812"));
  CHECK_FALSE(api::verified_check_of(json(), 3, "myapp", "812"));
}

TEST_CASE("Ready is never True while the latest login check failed") {
  api::connection_check failed_check;
  failed_check.verified = false;
  failed_check.message = "password authentication failed for user \"myapp\"";
  api::status_report r{true, api::reason::reconciled, "role myapp is ready", 3, failed_check,
                       {}, {}, {}};
  auto s = api::next_status(json(), r, "2026-01-01T00:00:00Z");
  CHECK(s["ready"] == false);
  CHECK(s["conditions"][0]["status"] == "False");
  CHECK(s["conditions"][0]["reason"] == "LoginFailed");
  CHECK(s["connection"]["verified"] == false);
  CHECK(s["message"].get<std::string>().find("password authentication failed")
        != std::string::npos);

  SECTION("a reconcile that did not check keeps the failed check, and Ready stays False") {
    api::status_report unchecked{true, api::reason::reconciled, "role myapp is ready", 3, {},
                                 {}, {}, {}};
    auto next = api::next_status(s, unchecked, "2026-01-02T00:00:00Z");
    CHECK(next["ready"] == false);
    CHECK(next["conditions"][0]["reason"] == "LoginFailed");
    CHECK(next["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z");
    CHECK(api::login_check_failed(next, std::nullopt));
  }
  SECTION("a check that logs in makes it Ready") {
    api::connection_check ok;
    ok.verified = true;
    ok.message = "logged in as myapp";
    api::status_report checked{true, api::reason::reconciled, "role myapp is ready", 3, ok,
                               {}, {}, {}};
    auto next = api::next_status(s, checked, "2026-01-02T00:00:00Z");
    CHECK(next["ready"] == true);
    CHECK(next["conditions"][0]["status"] == "True");
    CHECK(next["connection"]["verified"] == true);
  }
  SECTION("a failure that is not Ready keeps its own reason") {
    api::status_report bad{false, api::reason::database_unreachable, "connection refused", 3, {},
                           {}, {}, {}};
    auto next = api::next_status(s, bad, "2026-01-02T00:00:00Z");
    CHECK(next["conditions"][0]["reason"] == "DatabaseUnreachable");
  }
}

TEST_CASE("no login check at all is not a failed one") {
  CHECK_FALSE(api::login_check_failed(json(), std::nullopt));
  CHECK_FALSE(api::login_check_failed(json{{"ready", true}}, std::nullopt));
  CHECK_FALSE(api::login_check_failed(json{{"connection", {{"verified", true}}}}, std::nullopt));
  api::status_report r{true, api::reason::reconciled, "ok", 1, {}, {}, {}, {}};
  CHECK(api::next_status(json(), r, "2026-01-01T00:00:00Z")["ready"] == true);
}

TEST_CASE("status_fingerprint is equal exactly where same_status finds two statuses the same") {
  const auto a = nlohmann::json::parse(
    R"({"ready": true, "connection": {"verified": true, "lastCheckTime": "2026-01-01T00:00:00Z"}})");
  auto b = a;
  b["connection"]["lastCheckTime"] = "2026-01-02T00:00:00Z";
  CHECK(api::same_status(a, b));
  CHECK(api::status_fingerprint(a) == api::status_fingerprint(b));
  b["ready"] = false;
  CHECK_FALSE(api::same_status(a, b));
  CHECK(api::status_fingerprint(a) != api::status_fingerprint(b));
}
