#pragma once

// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
// only the holder reconciles; the others wait, healthy, as standbys.
//
// Expected flow (every retry_period)
//   1. GET the Lease. Absent: CREATE it holding it ourselves → leader.
//   2. We hold it: PUT renewTime=now with its resourceVersion → still leader.
//   3. Someone else holds it: remember its spec and when we first saw it (our own clock, so no
//      clock skew between machines matters). When that spec has not changed for
//      leaseDurationSeconds, or the holder is empty (released), PUT ourselves as holder with the
//      resourceVersion we read (leaseTransitions + 1) → leader. A Conflict means another
//      candidate won that round.
//   4. Shutdown (release): the leader PUTs holderIdentity "" and leaseDurationSeconds 1, so a
//      standby takes over at its next attempt instead of waiting for expiry.
//
// Guarantees
//   - Losing the lease stops reconciling at once: a renew refused (Conflict, someone else is the
//     holder) or not confirmed within renew_deadline calls on_leading(false) before any standby
//     may take the Lease (renew_deadline < lease_duration, both measured from when the renew
//     request was sent).
//   - on_leading is called only on changes, from the elector's own actor.
//
// Assumptions
//   - Clocks run at the same rate on every candidate (not the same time).

#include "k8s/client.hpp"
#include "k8s/lease.hpp"
#include "messages/introspection.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace dbuser::actors {

struct leader_election_options {
  std::string ns = "default";
  std::string name = "dbuser-operator";
  std::string identity; // host name + pid
  std::chrono::milliseconds lease_duration{std::chrono::seconds(15)};
  std::chrono::milliseconds renew_deadline{std::chrono::seconds(10)};
  std::chrono::milliseconds retry_period{std::chrono::seconds(2)};
  // Shards: how long a Lease must be seen absent or released before this candidate creates or
  // takes it (0: at once). A shard's preferred replica has none, the others wait this long, so
  // the preferred one wins when it is alive. An expired Lease is taken after its duration by
  // anyone, whatever this says.
  std::chrono::milliseconds patience{0};
};

// What a candidate remembers of a Lease held by someone else.
struct lease_observation {
  std::string record; // the Lease's spec as last seen; a change means its holder is alive
  std::chrono::steady_clock::time_point observed_at{};
};

enum class election_step {
  create, // no Lease yet
  renew,  // we hold it
  take,   // free, released or expired
  wait,   // someone else holds it
};

// Pure: what to do with the Lease just read (`lease` nullopt: there is none). `record` is its
// spec as text; `seen` is updated when it changed. `patience`: leader_election_options.
[[nodiscard]] election_step decide(const std::optional<k8s::lease_spec>& lease,
                                   const std::string& record, const std::string& identity,
                                   lease_observation& seen,
                                   std::chrono::steady_clock::time_point now,
                                   std::chrono::milliseconds patience = {});

// The Lease spec we write to hold (or keep) it.
[[nodiscard]] k8s::lease_spec holding_spec(const std::optional<k8s::lease_spec>& current,
                                           election_step step, const std::string& identity,
                                           std::chrono::milliseconds lease_duration,
                                           std::chrono::system_clock::time_point now);
// The Lease spec that gives it up.
[[nodiscard]] k8s::lease_spec released_spec(const k8s::lease_spec& current,
                                            std::chrono::system_clock::time_point now);

// "<host>_<pid>"
[[nodiscard]] std::string default_identity();
// The in-cluster namespace file's content, else "default".
[[nodiscard]] std::string default_election_namespace();

// (elect_atom) internal; (release_atom) → bool: gives up the Lease when held, then quits.
// on_leading(bool), on_status(leader_status) and on_renewed(valid_until) are called from the
// elector's actor; on_renewed after every successful write of the Lease as holder, with the
// instant its hold ends unless renewed again (when the renew was sent + renew_deadline).
[[nodiscard]] caf::actor spawn_leader_elector(
  caf::actor_system& sys, std::shared_ptr<k8s::client> kube, leader_election_options opts,
  std::function<void(bool)> on_leading,
  std::function<void(const msg::leader_status&)> on_status = {},
  std::function<void(std::chrono::steady_clock::time_point)> on_renewed = {});

} // namespace dbuser::actors
