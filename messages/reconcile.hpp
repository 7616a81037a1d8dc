#pragma once

// The reconcile protocol between the informer, the user manager and the user supervisors.
// A reconcile carries only the resource key ("namespace/name"): the supervisor re-reads the world.

#include <caf/atom.hpp>
#include <cstdint>
#include <string>

namespace dbuser::msg {

// (reconcile_atom, key): look at this resource again. Idempotent; bursts coalesce.
using reconcile_atom = caf::atom_constant<caf::atom("reconcile")>;
// (tick_atom, epoch): a supervisor's own timer (retry or resync); stale epochs are ignored.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
// (respawn_atom, key): the manager restarts a supervisor that died, after its backoff.
using respawn_atom = caf::atom_constant<caf::atom("respawn")>;
// (synced_atom): the informer caches hold a full list.
using synced_atom = caf::atom_constant<caf::atom("synced")>;
// (resume_atom, continuation): a Kubernetes callback hands its result back to the actor that
// asked (see actors/continuation.hpp).
using resume_atom = caf::atom_constant<caf::atom("resume")>;
// (shutdown_atom): stop taking new work, finish or abandon in-flight work, then quit.
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
// (pause_atom, bool): leader election says stop (true) or go on (false) reconciling.
using pause_atom = caf::atom_constant<caf::atom("pause")>;
// (shard_atom, int shard, bool held): this process took (true) or lost (false) a shard's Lease.
using shard_atom = caf::atom_constant<caf::atom("shard")>;
// (acquire_atom, target, ns, urgent) from a supervisor to its manager: it has work on that
// database target ("engine://host:port", "" when unknown), for a resource of namespace `ns`,
// urgent when the resource is new or changed (common/fair_queue.hpp); (grant_atom) back when one of the target's
// max_concurrent_reconciles slots is its; (release_atom) when its reconcile ended.
using acquire_atom = caf::atom_constant<caf::atom("acquire")>;
using grant_atom = caf::atom_constant<caf::atom("grant")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
// (queue_tick_atom): the manager's own timer, reporting its waiting lines (about once a second).
using queue_tick_atom = caf::atom_constant<caf::atom("queuetick")>;

} // namespace dbuser::msg

namespace dbuser::msg {
// (targets_atom, ns) to a user manager: the DatabaseTargetPolicies changed (ns empty) or the
// labels of namespace ns did: its supervisors (all, or those of ns) look again. A supervisor whose
// policy decision did not change starts no reconcile.
using targets_atom = caf::atom_constant<caf::atom("targets")>;
// (supervisors_atom) → std::size_t: how many resources the manager is looking after.
using supervisors_atom = caf::atom_constant<caf::atom("sups")>;
} // namespace dbuser::msg
