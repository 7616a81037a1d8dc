#include "actors/shard_table.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::actors;
using std::chrono::seconds;

TEST_CASE("a shard is held only between a renewal and the end of its validity") {
  shard_table t(3, dbuser::api::shard_key_mode::target, "dbuser-operator", 1);
  const auto now = shard_table::clock::now();
  REQUIRE_FALSE(t.holds(1));
  t.renewed(1, now + seconds(10));
  t.set_held(1, true);
  REQUIRE(t.holds(1));
  REQUIRE_FALSE(t.holds(0));
  REQUIRE_FALSE(t.holds(7)); // no such shard
  t.renewed(1, now - seconds(1)); // renewals stopped: the hold ran out by itself
  REQUIRE_FALSE(t.holds(1));
  t.renewed(1, now + seconds(10));
  REQUIRE(t.holds(1));
  t.set_held(1, false);
  REQUIRE_FALSE(t.holds(1));
}

TEST_CASE("the shard table shows each shard's Lease, holder state, takeovers and users") {
  shard_table t(2, dbuser::api::shard_key_mode::namespace_, "ops", 0);
  t.renewed(1, shard_table::clock::now() + seconds(10));
  t.set_held(1, true);
  t.set_held(1, true); // no change: not another takeover
  t.count_users("PostgresUser", {0, 3});
  t.count_users("MySQLUser", {0, 2});
  const auto s = t.snapshot();
  REQUIRE(s.size() == 2);
  CHECK(s[0].lease == "ops-shard-0");
  CHECK(s[0].preferred);
  CHECK_FALSE(s[0].held);
  CHECK(s[0].held_since_unix == 0);
  CHECK(s[1].held);
  CHECK(s[1].takeovers == 1);
  CHECK(s[1].users == 5);
  CHECK(s[1].valid_for_seconds > 9);
  CHECK(s[1].held_since_unix > 0);
}

TEST_CASE("users map to shards by their namespace or their target") {
  shard_table by_ns(4, dbuser::api::shard_key_mode::namespace_, "ops", 0);
  shard_table by_target(4, dbuser::api::shard_key_mode::target, "ops", 0);
  CHECK(by_ns.shard_of("postgresql://a:5432", "team") == dbuser::api::shard_of("team", 4));
  CHECK(by_target.shard_of("postgresql://a:5432", "team")
        == dbuser::api::shard_of("postgresql://a:5432", 4));
}
