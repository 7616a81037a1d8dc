#include "api/credentials.hpp"
#include "test/api/credentials_fixture.hpp"
#include "api/rotation.hpp"
#include "api/status.hpp"

#include <catch2/catch.hpp>

using namespace dbuser;
using namespace std::chrono;

namespace {

using test::creds;

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
                                        creds("current", std::string("next"), "v7", "2026-02-03T04:05:06Z"));
  auto state = api::rotation_state_of(secret);
  CHECK(state.pending == std::optional<std::string>("next"));
  CHECK(state.rotated_for == "v7");
  CHECK(state.updated_at == at("2026-02-03T04:05:06Z"));
  // The internal key is a valid Secret data key (no slash).
  CHECK(std::string(api::key_pending_password).find('/') == std::string::npos);
}

namespace {

api::user_spec alternating_spec() {
  auto s = spec_with_interval(std::nullopt);
  s.strategy = api::rotation_strategy::alternating;
  return s;
}

nlohmann::json user_object(const nlohmann::json& rotation) {
  return {{"apiVersion", "database.example.com/v1alpha1"},
          {"kind", "PostgresUser"},
          {"metadata", {{"name", "u"}, {"namespace", "ns"}}},
          {"spec",
           {{"username", "myapp"},
            {"database", "db"},
            {"host", "127.0.0.1"},
            {"adminSecretRef", {{"name", "admin"}}},
            {"secretName", "creds"},
            {"passwordRotation", rotation}}}};
}

} // namespace

TEST_CASE("strategy and overlap are read from passwordRotation: defaults, bounds, refusals") {
  auto plain = api::parse_spec(user_object({{"interval", "720h"}}));
  REQUIRE(plain);
  CHECK(plain->strategy == api::rotation_strategy::in_place);
  CHECK(plain->overlap == hours(24));
  auto alt = api::parse_spec(user_object({{"strategy", "Alternating"}, {"overlap", "90m"}}));
  REQUIRE(alt);
  CHECK(alt->strategy == api::rotation_strategy::alternating);
  CHECK(alt->overlap == minutes(90));
  // The default overlap yields to a shorter interval; an explicit one may not exceed it.
  auto short_interval = api::parse_spec(user_object({{"strategy", "Alternating"}, {"interval", "1h"}}));
  REQUIRE(short_interval);
  CHECK(short_interval->overlap == hours(1));
  auto too_long = api::parse_spec(user_object({{"interval", "1h"}, {"overlap", "2h"}}));
  REQUIRE_FALSE(too_long);
  CHECK(too_long.error().message.find("spec.passwordRotation.overlap") == 0);
  CHECK_FALSE(api::parse_spec(user_object({{"overlap", "30s"}})));
  CHECK_FALSE(api::parse_spec(user_object({{"strategy", "Sometimes"}})));
  auto long_name = user_object({{"strategy", "Alternating"}});
  long_name["spec"]["username"] = std::string(62, 'a');
  auto refused = api::parse_spec(long_name);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("spec.username: at most 61") == 0);
}

TEST_CASE("Alternating rotates between two login roles; a strategy change is a rotation") {
  auto in_place = spec_with_interval(std::nullopt);
  auto alt = alternating_spec();
  CHECK(api::rotation_target(in_place, "myapp") == "myapp");
  CHECK(api::rotation_target(in_place, "myapp-a") == "myapp");
  CHECK(api::rotation_target(alt, "") == "myapp-a");
  CHECK(api::rotation_target(alt, "myapp") == "myapp-a");
  CHECK(api::rotation_target(alt, "myapp-a") == "myapp-b");
  CHECK(api::rotation_target(alt, "myapp-b") == "myapp-a");
  CHECK_FALSE(api::strategy_switch_due(in_place, "myapp"));
  CHECK(api::strategy_switch_due(in_place, "myapp-b"));
  CHECK(api::strategy_switch_due(alt, "myapp"));
  CHECK_FALSE(api::strategy_switch_due(alt, "myapp-a"));
  const auto now = at("2026-01-01T00:00:00Z");
  CHECK(api::previous_valid("myapp-a", "2026-01-01T00:00:01Z", now));
  CHECK_FALSE(api::previous_valid("myapp-a", "2026-01-01T00:00:00Z", now));
  CHECK_FALSE(api::previous_valid("", "2026-01-01T00:00:01Z", now));
}

TEST_CASE("assign_logins: InPlace alone looks at no login role; otherwise every role has a mode") {
  pg::desired_role d;
  d.name = "myapp";
  api::assign_logins(spec_with_interval(std::nullopt), "myapp", {}, d);
  CHECK(d.login == pg::login_mode::active);
  CHECK(d.logins.empty());
  CHECK(d.active_name() == "myapp");

  api::assign_logins(alternating_spec(), "myapp-b", {"myapp-a"}, d);
  CHECK(d.login == pg::login_mode::disabled);
  REQUIRE(d.logins.size() == 2);
  CHECK(d.logins[0].mode == pg::login_mode::keep);
  CHECK(d.logins[1].mode == pg::login_mode::active);
  CHECK(d.active_name() == "myapp-b");

  // Back to InPlace while the login role's overlap runs: it is kept, the other disabled.
  api::assign_logins(spec_with_interval(std::nullopt), "myapp", {"myapp-b"}, d);
  CHECK(d.login == pg::login_mode::active);
  REQUIRE(d.logins.size() == 2);
  CHECK(d.logins[0].mode == pg::login_mode::disabled);
  CHECK(d.logins[1].mode == pg::login_mode::keep);
}

TEST_CASE("the Secret of an Alternating user names the login role, the owner and the previous "
          "credentials; InPlace drops what it no longer has") {
  api::object_meta owner;
  owner.ns = "ns";
  owner.name = "u";
  owner.uid = "uid";
  auto c = creds("pw");
  c.username = "myapp-b";
  c.previous = "myapp-a";
  c.previous_until = "2026-01-02T00:00:00Z";
  auto secret = api::credentials_secret(alternating_spec(), owner, c);
  CHECK(api::secret_value(secret, "username") == std::optional<std::string>("myapp-b"));
  CHECK(api::secret_value(secret, "owner-role") == std::optional<std::string>("myapp"));
  CHECK(api::secret_value(secret, "uri")->find("postgresql://myapp-b:pw@") == 0);
  auto state = api::rotation_state_of(secret);
  CHECK(state.username == "myapp-b");
  CHECK(state.previous == "myapp-a");
  CHECK(state.previous_until == "2026-01-02T00:00:00Z");

  auto plain = creds("pw");
  auto patch = api::credentials_patch(spec_with_interval(std::nullopt), owner, plain, &secret);
  CHECK(patch["data"]["owner-role"].is_null());
  CHECK(patch["metadata"]["annotations"]["database.example.com/previous-username"].is_null());
  nlohmann::json merged = secret;
  merged.merge_patch(patch);
  CHECK(api::secret_value(merged, "username") == std::optional<std::string>("myapp"));
  CHECK_FALSE(api::secret_value(merged, "owner-role"));
}
