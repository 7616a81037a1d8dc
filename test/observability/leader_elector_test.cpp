#include "actors/leader_elector.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::actors;
using std::chrono::seconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

namespace {

dbuser::k8s::lease_spec held_by(const std::string& holder, int duration = 15) {
  dbuser::k8s::lease_spec s;
  s.holder = holder;
  s.lease_duration_seconds = duration;
  s.transitions = 2;
  return s;
}

} // namespace

TEST_CASE("without a Lease the candidate creates one") {
  lease_observation seen;
  REQUIRE(decide(std::nullopt, "", "me", seen, steady_clock::now()) == election_step::create);
}

TEST_CASE("the holder renews its own Lease") {
  lease_observation seen;
  REQUIRE(decide(held_by("me"), "r1", "me", seen, steady_clock::now()) == election_step::renew);
}

TEST_CASE("a released Lease is taken at once") {
  lease_observation seen;
  REQUIRE(decide(held_by("", 1), "r1", "me", seen, steady_clock::now()) == election_step::take);
}

TEST_CASE("a Lease held by someone alive is left alone but one not renewed for its duration is taken") {
  lease_observation seen;
  const auto t = steady_clock::now();
  REQUIRE(decide(held_by("other"), "r1", "me", seen, t) == election_step::wait);
  REQUIRE(decide(held_by("other"), "r1", "me", seen, t + seconds(14)) == election_step::wait);
  // The holder renewed: a new record restarts the clock.
  REQUIRE(decide(held_by("other"), "r2", "me", seen, t + seconds(14)) == election_step::wait);
  REQUIRE(decide(held_by("other"), "r2", "me", seen, t + seconds(28)) == election_step::wait);
  REQUIRE(decide(held_by("other"), "r2", "me", seen, t + seconds(29)) == election_step::take);
}

TEST_CASE("taking a Lease counts a transition and renewing keeps the acquire time") {
  const auto now = system_clock::now();
  auto current = held_by("other");
  current.acquire_time = now - seconds(100);
  auto taken = holding_spec(current, election_step::take, "me", seconds(15), now);
  REQUIRE(taken.holder == "me");
  REQUIRE(taken.transitions == 3);
  REQUIRE(taken.acquire_time == now);
  REQUIRE(taken.lease_duration_seconds == 15);
  auto mine = held_by("me");
  mine.acquire_time = now - seconds(100);
  auto renewed = holding_spec(mine, election_step::renew, "me", seconds(15), now);
  REQUIRE(renewed.transitions == 2);
  REQUIRE(renewed.acquire_time == now - seconds(100));
  REQUIRE(renewed.renew_time == now);
}

TEST_CASE("releasing clears the holder and shortens the lease to one second") {
  auto s = released_spec(held_by("me"), system_clock::now());
  REQUIRE(s.holder.empty());
  REQUIRE(s.lease_duration_seconds == 1);
  REQUIRE(s.transitions == 2);
}

TEST_CASE("the identity names the host and the process") {
  REQUIRE(default_identity().find('_') != std::string::npos);
  REQUIRE_FALSE(default_election_namespace().empty());
}

TEST_CASE("with patience a free Lease is created or taken only once seen free that long") {
  using std::chrono::milliseconds;
  lease_observation seen;
  const auto t = steady_clock::now();
  REQUIRE(decide(std::nullopt, "", "me", seen, t, seconds(15)) == election_step::wait);
  REQUIRE(decide(std::nullopt, "", "me", seen, t + seconds(14), seconds(15)) == election_step::wait);
  REQUIRE(decide(std::nullopt, "", "me", seen, t + seconds(15), seconds(15)) == election_step::create);
  lease_observation released;
  REQUIRE(decide(held_by("", 1), "r1", "me", released, t, seconds(15)) == election_step::wait);
  REQUIRE(decide(held_by("", 1), "r1", "me", released, t + seconds(15), seconds(15))
          == election_step::take);
}

TEST_CASE("patience does not delay the takeover of an expired Lease") {
  lease_observation seen;
  const auto t = steady_clock::now();
  REQUIRE(decide(held_by("other"), "r1", "me", seen, t, seconds(15)) == election_step::wait);
  REQUIRE(decide(held_by("other"), "r1", "me", seen, t + seconds(15), seconds(15))
          == election_step::take);
  REQUIRE(decide(held_by("me"), "r1", "me", seen, t, seconds(15)) == election_step::renew);
}
