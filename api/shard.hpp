#pragma once

// Shards (--shards N): which replica reconciles which user. Pure functions; no I/O.
//
// A user's shard key is its database target, "engine://host:port" (default: one server's users,
// its pool and its privilege groups live in one process), or its namespace (--shard-key
// namespace). The key hashes (FNV-1a, 64 bit) to one of `buckets` fixed buckets; shard i of N
// owns the bucket range [i*buckets/N, (i+1)*buckets/N). The bucket of a key never depends on N:
// a resharding moves bucket ranges between shard Leases, never a user's bucket.
// docs/sharding.md has the flow and its guarantees.

#include "api/postgres_user.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace dbuser::api {

inline constexpr int shard_buckets = 256;

enum class shard_key_mode { target, namespace_ };

// "target" or "namespace"; nullopt otherwise.
[[nodiscard]] std::optional<shard_key_mode> parse_shard_key_mode(const std::string& s);

// The database target a user resource names, "engine://host:port" from its spec as it stands
// ("" when it names none). Also the key of the user manager's reconcile slots.
[[nodiscard]] std::string target_key(const nlohmann::json& object, engine eng);

// The shard key of a user whose target key is `target` and namespace `ns`.
[[nodiscard]] const std::string& shard_key(shard_key_mode mode, const std::string& target,
                                           const std::string& ns);

// FNV-1a 64 of the key, modulo shard_buckets: the same on every replica, release and N.
[[nodiscard]] int bucket_of(const std::string& key);
// The shard (0..shards-1) owning a bucket.
[[nodiscard]] int shard_of_bucket(int bucket, int shards);
[[nodiscard]] inline int shard_of(const std::string& key, int shards) {
  return shard_of_bucket(bucket_of(key), shards);
}

// The Lease of shard i: "<base>-shard-<i>" (base: the leader-election Lease name).
[[nodiscard]] std::string shard_lease_name(const std::string& base, int shard);

// The StatefulSet ordinal at the end of a Pod's host name ("dbuser-operator-2" → 2); nullopt
// when the name does not end in "-<digits>".
[[nodiscard]] std::optional<int> ordinal_of(const std::string& host);

} // namespace dbuser::api
