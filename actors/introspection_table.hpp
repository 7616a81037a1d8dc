#pragma once

// The introspection actor's state, as a plain class with no actor and no I/O so it can be tested
// directly: the last report of every supervisor and pool, the counters derived from them, and the
// two renderings (/debug/actors JSON, /metrics Prometheus text).
//
// Counting rules
//   - A reconcile is counted when a supervisor reports the end of one (phase Idle, Backoff or
//     Refused); its result label is the report's last_result (success, retry, refused) and its
//     duration goes to the histogram.
//   - A supervisor reporting `deleted` leaves the table; its counters stay.
//   - Supervisor restarts are counted from the increase of a key's `restarts`.
//   - Losing leadership empties the supervisor table (the manager stops every supervisor).
//   - A user claimed by another install (phase ClaimedElsewhere) or released by this one
//     (Released) is not managed here: it counts in dbuser_users_claimed_elsewhere or
//     dbuser_users_released, not in dbuser_managed_users.

#include "actors/context.hpp"
#include "actors/db_pool.hpp"
#include "actors/metrics.hpp"
#include "actors/shard_table.hpp"
#include "k8s/client.hpp"
#include "messages/introspection.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace dbuser::actors {

// Counters that live outside the actors (the Kubernetes client, the informers, the process).
struct external_counters {
  std::vector<k8s::request_count> kube_requests;
  std::uint64_t watch_restarts = 0;
  std::uint64_t relists = 0;
  bool caches_synced = false;
  std::vector<shard_status> shards; // --shards N > 1: one per shard
  std::optional<std::uint64_t> rss_bytes;
  std::optional<std::uint64_t> open_fds;
};

class introspection_table {
public:
  using time_point = std::chrono::system_clock::time_point;

  void apply(const supervisor_report& r, time_point now);
  void apply(const pool_stats& s);
  void apply(const slot_queue_stats& s);
  void rotation() { ++rotations_; }
  void apply(const msg::leader_status& s);
  void set_install_id(std::string id) { install_id_ = std::move(id); }

  [[nodiscard]] std::size_t supervisors() const { return supervisors_.size(); }
  [[nodiscard]] const msg::leader_status& leader() const { return leader_; }

  // {"supervisors": [...], "pools": [...], "queues": [...], "leader": {...}, "counters": {...}}
  [[nodiscard]] nlohmann::json debug_json() const;
  // One supervisor's entry, nullopt when unknown.
  [[nodiscard]] std::optional<nlohmann::json> supervisor_json(const std::string& key) const;
  [[nodiscard]] std::vector<metrics::metric_family> families(const external_counters& ext) const;
  [[nodiscard]] std::string metrics_text(const external_counters& ext) const {
    return metrics::render_prometheus(families(ext));
  }

private:
  struct supervisor_row {
    supervisor_report last;
    time_point updated;
    time_point next_wakeup;
  };
  [[nodiscard]] nlohmann::json row_json(const supervisor_row& row) const;

  std::map<std::string, supervisor_row> supervisors_;
  std::map<std::string, pool_stats> pools_;
  std::map<std::pair<std::string, std::string>, slot_queue_stats> queues_; // by kind, target
  std::map<std::string, std::uint64_t> reconciles_; // by result
  metrics::histogram durations_{metrics::reconcile_duration_buckets()};
  std::uint64_t rotations_ = 0;
  std::uint64_t supervisor_restarts_ = 0;
  std::map<std::string, int> restarts_seen_; // by key: the highest `restarts` reported
  msg::leader_status leader_;
  std::string install_id_;
};

// /debug/actors' "shards": one object per shard (shard_status's fields).
[[nodiscard]] nlohmann::json shards_json(const std::vector<shard_status>& shards);

// Process counters from /proc/self (nullopt where unreadable).
[[nodiscard]] std::optional<std::uint64_t> process_rss_bytes();
[[nodiscard]] std::optional<std::uint64_t> process_open_fds();

} // namespace dbuser::actors
