#include "api/shard.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace dbuser::api;

TEST_CASE("a user's target key names its engine, host and port, with the engine's default port") {
  auto pg = nlohmann::json::parse(R"({"spec":{"host":"db.example.com"}})");
  REQUIRE(target_key(pg, engine::postgres) == "postgresql://db.example.com:5432");
  REQUIRE(target_key(pg, engine::mysql) == "mysql://db.example.com:3306");
  auto port = nlohmann::json::parse(R"({"spec":{"host":"::1","port":6432}})");
  REQUIRE(target_key(port, engine::postgres) == "postgresql://[::1]:6432");
  REQUIRE(target_key(nlohmann::json::parse(R"({"spec":{}})"), engine::postgres).empty());
}

TEST_CASE("the shard key is the target or the namespace") {
  REQUIRE(shard_key(shard_key_mode::target, "postgresql://a:5432", "team") == "postgresql://a:5432");
  REQUIRE(shard_key(shard_key_mode::namespace_, "postgresql://a:5432", "team") == "team");
  REQUIRE(parse_shard_key_mode("target") == shard_key_mode::target);
  REQUIRE(parse_shard_key_mode("namespace") == shard_key_mode::namespace_);
  REQUIRE_FALSE(parse_shard_key_mode("host"));
}

TEST_CASE("a key's bucket is fixed (FNV-1a 64 mod 256) and the same for every number of shards") {
  // Pinned: a bucket that changed between releases would move users between live replicas.
  REQUIRE(bucket_of("") == static_cast<int>(14695981039346656037ULL % 256));
  REQUIRE(bucket_of("postgresql://127.0.0.1:5432") == bucket_of("postgresql://127.0.0.1:5432"));
  std::set<int> seen;
  for (int i = 0; i < 1000; ++i) {
    const int b = bucket_of("ns-" + std::to_string(i));
    REQUIRE(b >= 0);
    REQUIRE(b < shard_buckets);
    seen.insert(b);
  }
  REQUIRE(seen.size() > 200); // spread over (nearly) every bucket
}

TEST_CASE("shards own contiguous bucket ranges that cover every bucket once") {
  for (int n : {1, 2, 3, 5, 7, 64, 256}) {
    std::vector<int> per(static_cast<std::size_t>(n), 0);
    int last = 0;
    for (int b = 0; b < shard_buckets; ++b) {
      const int s = shard_of_bucket(b, n);
      REQUIRE(s >= last); // ranges, in order
      REQUIRE(s < n);
      last = s;
      ++per[static_cast<std::size_t>(s)];
    }
    for (int count : per) // as even as 256 / n allows
      REQUIRE(std::abs(count - shard_buckets / n) <= 1);
  }
  REQUIRE(shard_of("anything", 1) == 0);
}

TEST_CASE("a shard's Lease is named after the leader-election Lease") {
  REQUIRE(shard_lease_name("dbuser-operator", 2) == "dbuser-operator-shard-2");
}

TEST_CASE("a StatefulSet Pod's ordinal is read from its host name") {
  REQUIRE(ordinal_of("dbuser-operator-2") == 2);
  REQUIRE(ordinal_of("dbuser-operator-0") == 0);
  REQUIRE_FALSE(ordinal_of("dbuser-operator-7d9f8c6b5-x2k4q"));
  REQUIRE_FALSE(ordinal_of("laptop"));
  REQUIRE_FALSE(ordinal_of("host-"));
}
