#pragma once

// The user manager: one user_supervisor per PostgresUser key. It spawns a supervisor on the
// first reconcile of a key, routes later ones to it, reaps it when it stops normally (its
// resource is gone) and restarts it with backoff when it dies (an exception, a crash): no other
// resource notices. While paused (not the leader), reconciles are dropped: the informer replays
// every object when reconciling resumes.
//
// It also bounds the reconciles running at once (settings.max_concurrent_reconciles, the
// counterpart of controller-runtime's MaxConcurrentReconciles) per database target: a supervisor
// with work sends acquire_atom naming its target, its namespace and whether it is urgent (new
// or changed: fair_queue.hpp), and starts on grant_atom: urgent work first, namespaces in turn; its release_atom (or its death) frees the slot. A target that is slow or down
// holds only its own slots (its pool fails jobs fast once it knows), never another target's.
// Waiting costs a queue entry, not a reconcile's state.
//
// With shards (ctx->shards, --shards N > 1): a key whose user belongs to a shard this process
// does not hold gets no supervisor (and loses the one it had); a slot is granted only while the
// user's shard Lease is held and valid (the fence: shard_table::holds), asked at acquire and
// again at grant; losing a shard stops its supervisors at once.

#include "actors/context.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <memory>

namespace dbuser::actors {

// (reconcile_atom, std::string key), (targets_atom, std::string ns), (pause_atom, bool),
// (shard_atom, int shard, bool held), (shutdown_atom); from supervisors:
// (acquire_atom, std::string target, std::string ns, bool urgent) → later (grant_atom),
// (release_atom)
[[nodiscard]] caf::actor spawn_user_manager(caf::actor_system& sys,
                                            std::shared_ptr<const operator_context> ctx,
                                            bool start_paused);

} // namespace dbuser::actors
