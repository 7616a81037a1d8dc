#include "k8s/error.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::k8s;

TEST_CASE("an API Status becomes a typed error with its message") {
  auto e = error_from_response(404, R"({"kind":"Status","apiVersion":"v1","status":"Failure",
    "message":"configmaps \"x\" not found","reason":"NotFound","code":404})");
  CHECK(e.code == error::kind::not_found);
  CHECK(e.http_status == 404);
  CHECK(e.message == "configmaps \"x\" not found");
  CHECK_FALSE(e.retryable());
}

TEST_CASE("409 is AlreadyExists or Conflict depending on the reason") {
  CHECK(error_from_response(409, R"({"kind":"Status","reason":"AlreadyExists","code":409})").code
        == error::kind::already_exists);
  auto c = error_from_response(409, R"({"kind":"Status","reason":"Conflict","code":409})");
  CHECK(c.code == error::kind::conflict);
  CHECK(c.retryable());
}

TEST_CASE("an Invalid status keeps its causes") {
  auto e = error_from_response(422, R"({"kind":"Status","reason":"Invalid","code":422,"message":"bad",
    "details":{"causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.username"}]}})");
  CHECK(e.code == error::kind::invalid);
  REQUIRE(e.causes.size() == 1);
  CHECK(e.causes[0].field == "spec.username");
  CHECK(e.to_string().find("spec.username") != std::string::npos);
}

TEST_CASE("too many requests honours Retry-After and is retryable") {
  auto e = error_from_response(429, R"({"kind":"Status","reason":"TooManyRequests","code":429})", "7");
  CHECK(e.code == error::kind::too_many_requests);
  REQUIRE(e.retry_after);
  CHECK(e.retry_after->count() == 7);
  CHECK(e.retryable());
}

TEST_CASE("a watch ERROR event saying the version is too old is Gone") {
  auto e = error_from_status(nlohmann::json::parse(
      R"j({"kind":"Status","status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410})j"));
  CHECK(e.code == error::kind::gone);
  CHECK(e.http_status == 410);
  CHECK(e.retryable());
}

TEST_CASE("statuses without a Status body are classified by HTTP code") {
  CHECK(error_from_response(401, "Unauthorized").code == error::kind::unauthorized);
  CHECK(error_from_response(403, "").code == error::kind::forbidden);
  CHECK(error_from_response(503, "<html>").code == error::kind::unavailable);
  CHECK(error_from_response(504, "").code == error::kind::server_timeout);
  CHECK(error_from_response(500, "").code == error::kind::internal);
  CHECK(error_from_response(502, "").code == error::kind::internal);
  CHECK(error_from_response(418, "").code == error::kind::bad_response);
}

TEST_CASE("only transient kinds are worth retrying") {
  for (auto k : {error::kind::not_found, error::kind::already_exists, error::kind::invalid, error::kind::forbidden,
                 error::kind::unauthorized, error::kind::tls, error::kind::canceled, error::kind::config})
    CHECK_FALSE(make_error(k, "").retryable());
  for (auto k : {error::kind::conflict, error::kind::gone, error::kind::too_many_requests,
                 error::kind::server_timeout, error::kind::unavailable, error::kind::internal,
                 error::kind::transport, error::kind::timeout})
    CHECK(make_error(k, "").retryable());
}
