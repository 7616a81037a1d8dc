#include "api/credentials.hpp"
#include "api/rotation.hpp"
#include "api/status.hpp"

#include <catch2/catch.hpp>

using namespace dbuser;
using namespace std::chrono;

namespace {

api::user_spec spec_with_interval(std::optional<seconds> interval) {
  api::user_spec s;
  s.username = "myapp";
  s.database = "db";
  s.host = "127.0.0.1";
  s.secret_name = "creds";
  s.rotation_interval = interval;
  return s;
}

system_clock::time_point at(const char* t) {
  return *api::parse_rfc3339(t);
}

} // namespace

TEST_CASE("a new rotate annotation value asks for one rotation, a handled one does not") {
  auto spec = spec_with_interval(std::nullopt);
  api::rotation_state state;
  const auto now = at("2026-01-01T00:00:00Z");
  CHECK(api::rotation_is_due(spec, "", state, now) == api::rotation_due::no);
  CHECK(api::rotation_is_due(spec, "v1", state, now) == api::rotation_due::requested);
  state.rotated_for = "v1";
  CHECK(api::rotation_is_due(spec, "v1", state, now) == api::rotation_due::no);
  CHECK(api::rotation_is_due(spec, "v2", state, now) == api::rotation_due::requested);
}

TEST_CASE("a periodic rotation falls due one interval after the password last changed") {
  auto spec = spec_with_interval(hours(720));
  api::rotation_state state;
  state.updated_at = at("2026-01-01T00:00:00Z");
  CHECK(api::rotation_is_due(spec, "", state, at("2026-01-30T23:59:59Z")) == api::rotation_due::no);
  CHECK(api::rotation_is_due(spec, "", state, at("2026-01-31T00:00:00Z"))
        == api::rotation_due::interval);
  CHECK(api::next_rotation(spec, state) == at("2026-01-31T00:00:00Z"));
  CHECK_FALSE(api::next_rotation(spec_with_interval(std::nullopt), state));
}

TEST_CASE("the rotation state is read from the Secret: pending key and annotations") {
  api::object_meta owner;
  owner.ns = "ns";
  owner.name = "u";
  owner.uid = "uid";
  auto secret = api::credentials_secret(spec_with_interval(std::nullopt), owner,
                                        {"current", std::string("next"), "v7",
                                         "2026-02-03T04:05:06Z"});
  auto state = api::rotation_state_of(secret);
  CHECK(state.pending == std::optional<std::string>("next"));
  CHECK(state.rotated_for == "v7");
  CHECK(state.updated_at == at("2026-02-03T04:05:06Z"));
  // The internal key is a valid Secret data key (no slash).
  CHECK(std::string(api::key_pending_password).find('/') == std::string::npos);
}
