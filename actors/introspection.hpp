#pragma once

// The introspection actor: the table behind /debug/actors and /metrics (CAF 0.17 cannot list
// actors, so supervisors, pools and the leader elector report to it).
//
// Expected flow
//   1. main spawns it, then builds the operator with its hooks (introspection_hooks): every hook
//      only anon_sends to it, from whatever actor or thread calls it. No shared table, no mutex.
//   2. Once the operator runs, main hands it the metric_sources (the Kubernetes client's request
//      counts, the informers' counters and sync state), which are thread-safe and cheap.
//   3. The HTTP endpoint asks it (ping, ready, metrics, debug) with a short timeout.
//
// Guarantees
//   - Reporting never blocks the reporter; answering a snapshot is O(resources) in one actor, so
//     a slow scrape delays no reconcile (supervisors never wait for it).

#include "actors/context.hpp"
#include "actors/db_pool.hpp"
#include "actors/introspection_table.hpp"
#include "messages/introspection.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/type_name.hpp>
#include <functional>

namespace dbuser::actors {

struct metric_sources {
  std::function<external_counters()> counters; // without the /proc ones (the actor adds them)
  std::function<bool()> synced;                // the informer caches hold a full list
  std::function<std::vector<shard_status>()> shards; // --shards N > 1; empty otherwise
  std::string install_id;                      // this install's identity (api/claim.hpp)
};

struct introspection_hooks {
  std::function<void(const supervisor_report&)> on_supervisor_report;
  pool_stats_sink on_pool_stats;
  std::function<void(const slot_queue_stats&)> on_queue_stats;
  std::function<void()> on_rotation;
  std::function<void(const msg::leader_status&)> on_leader;
};

// (sup_report_atom, supervisor_report), (pool_stats_atom, pool_stats),
// (queue_stats_atom, slot_queue_stats), (rotated_atom),
// (leader_atom, leader_status), (sources_atom, metric_sources);
// (ping_atom) → bool, (ready_atom) → std::string, (metrics_atom) → std::string,
// (debug_atom) → std::string, (debug_atom, std::string key) → std::string ("" when unknown).
[[nodiscard]] caf::actor spawn_introspection(
  caf::actor_system& sys, bool leader_election,
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  });

[[nodiscard]] introspection_hooks hooks_for(const caf::actor& introspection);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, supervisor_report& x) {
  return f(caf::meta::type_name("supervisor_report"), x.key, x.phase, x.attempts, x.restarts,
           x.last_error, x.last_result, x.next_wakeup_ms, x.last_success_unix,
           x.rotation_due_unix, x.last_duration_seconds, x.ready, x.deleted, x.claimed_by);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pool_stats& x) {
  return f(caf::meta::type_name("pool_stats"), x.target, x.size, x.busy, x.waiting, x.restarts,
           x.jobs, x.up, x.down_since_unix, x.next_probe_unix, x.last_error, x.parked,
           x.failures);
}

} // namespace dbuser::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dbuser::actors::metric_sources)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dbuser::actors::slot_queue_stats)
