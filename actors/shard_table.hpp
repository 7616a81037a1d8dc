#pragma once

// What this process holds of the shards (--shards N > 1; docs/sharding.md): one entry per shard
// Lease, written by that shard's leader elector, read by the user managers (which users to
// reconcile, and the fence before each reconcile) and by /metrics and /debug/actors.
// Thread-safe (one mutex; every call is a few field reads or writes).
//
// Guarantees
//   - holds(shard) is true only between a successful write of the Lease as holder and
//     renew_deadline after that write was sent, so it turns false on its own when renewals stop,
//     before any other replica may take the Lease (renew_deadline < lease_duration; other
//     candidates wait lease_duration from when they saw the last renewal, which is after it was
//     sent).

#include "api/shard.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace dbuser::actors {

struct shard_status {
  int shard = 0;
  std::string lease;       // its Lease's name
  bool preferred = false;  // this process's own shard (ordinal), taken without patience
  bool held = false;
  double valid_for_seconds = 0;     // how long the hold lasts without another renewal
  std::int64_t held_since_unix = 0; // 0: not held
  std::uint64_t takeovers = 0;      // times this process took the Lease
  std::size_t users = 0;            // supervisors of its users in this process, every kind
};

class shard_table {
public:
  using clock = std::chrono::steady_clock;

  shard_table(int shards, api::shard_key_mode mode, const std::string& lease_base,
              int preferred);

  [[nodiscard]] int shards() const { return static_cast<int>(rows_.size()); }
  // The shard of a user with that target key ("engine://host:port") and namespace.
  [[nodiscard]] int shard_of(const std::string& target, const std::string& ns) const;
  // Held, and the hold has not run out.
  [[nodiscard]] bool holds(int shard) const;
  [[nodiscard]] bool holds(const std::string& target, const std::string& ns) const {
    return holds(shard_of(target, ns));
  }

  // From the shard's leader elector.
  void set_held(int shard, bool held);
  void renewed(int shard, clock::time_point valid_until);
  // From a user manager: its supervisors per shard (`kind` tells the managers apart).
  void count_users(const std::string& kind, const std::vector<std::size_t>& per_shard);

  [[nodiscard]] std::vector<shard_status> snapshot() const;

private:
  struct row {
    shard_status status;
    clock::time_point valid_until{};
  };
  api::shard_key_mode mode_;
  mutable std::mutex mutex_;
  std::vector<row> rows_;
  std::map<std::string, std::vector<std::size_t>> users_; // by kind
};

} // namespace dbuser::actors
