#pragma once

// The introspection protocol: supervisors, pools and the leader elector report their state to the
// introspection actor (fire and forget, through hooks made by actors/introspection.hpp); the HTTP
// endpoint asks it for snapshots (request/response with a short timeout).

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <cstdint>
#include <string>

namespace dbuser::msg {

// (sup_report_atom, supervisor_report): a supervisor's state after a step.
using sup_report_atom = caf::atom_constant<caf::atom("supreport")>;
// (pool_stats_atom, pool_stats): a pool's size and load.
using pool_stats_atom = caf::atom_constant<caf::atom("poolstats")>;
// (queue_stats_atom, slot_queue_stats): a target's reconcile slots and their waiting line.
using queue_stats_atom = caf::atom_constant<caf::atom("queuestats")>;
// (rotated_atom): a password was rotated.
using rotated_atom = caf::atom_constant<caf::atom("rotated")>;
// (leader_atom, leader_status): what the leader elector knows after an attempt.
using leader_atom = caf::atom_constant<caf::atom("leader")>;
// (sources_atom, metric_sources): where the Kubernetes counters and the cache state come from.
using sources_atom = caf::atom_constant<caf::atom("sources")>;
// (ping_atom) → bool: the actor system answers.
using ping_atom = caf::atom_constant<caf::atom("ping")>;
// (ready_atom) → std::string: empty when ready, else why not.
using ready_atom = caf::atom_constant<caf::atom("ready")>;
// (metrics_atom) → std::string: Prometheus text.
using metrics_atom = caf::atom_constant<caf::atom("metrics")>;
// (debug_atom) → std::string: /debug/actors JSON; (debug_atom, key) → the one supervisor's JSON,
// or "" when unknown.
using debug_atom = caf::atom_constant<caf::atom("debug")>;
// (release_atom) → bool: the leader elector gives up the Lease (shutdown) and stops.
using release_atom = caf::atom_constant<caf::atom("release")>;
// (elect_atom, epoch): the leader elector's own timer.
using elect_atom = caf::atom_constant<caf::atom("elect")>;

// What the leader elector knows.
struct leader_status {
  bool enabled = false;      // leader election is on
  bool leader = false;       // this process holds the Lease
  bool healthy = false;      // the last attempt reached the API server
  std::string identity;      // ours
  std::string holder;        // the Lease's holder as last seen
  std::int64_t transitions = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leader_status& x) {
  return f(caf::meta::type_name("leader_status"), x.enabled, x.leader, x.healthy, x.identity,
           x.holder, x.transitions);
}

} // namespace dbuser::msg
