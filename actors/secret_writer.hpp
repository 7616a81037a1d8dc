#pragma once

// The secret writer: the only actor that writes credentials Secrets.
//
// Expected flow (write)
//   0. When the asker saw the Secret absent, POST at once; when it saw it ours at some
//      resourceVersion, PATCH at once with that resourceVersion as the precondition. A wrong
//      guess (AlreadyExists, Conflict) falls back to 1.
//   1. GET the Secret. Absent: POST the desired object (AlreadyExists: back to 1).
//   2. Present and not ours (no controller ownerReference with the owner's uid): answer
//      `foreign` and change nothing.
//   3. Ours but of another type than the desired object (the type is immutable): DELETE it with
//      uid and resourceVersion preconditions, then back to 1, which creates it anew with the
//      same data (the password included: the asker took it from the Secret).
//   4. Ours: if the merge patch would change nothing, answer `unchanged`; else PATCH it with the
//      resourceVersion just read as a precondition (Conflict: back to 1, at most 5 times).
// Expected flow (erase)
//   1. GET; absent → `absent`; not ours (no controller ownerReference with the owner's uid, or
//      the operator's labels missing or changed) → `foreign`; ours → DELETE with a uid
//      precondition.
//
// Guarantees
//   - Work on one Secret is serialised (one request in flight per namespace/name); work on
//     different Secrets runs concurrently.
//   - A Secret that is not ours is never modified or deleted.
//   - Other people's labels and annotations on our Secrets survive (merge patch, never replace).

#include "k8s/client.hpp"
#include "messages/secrets.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <memory>

namespace dbuser::actors {

[[nodiscard]] caf::actor spawn_secret_writer(caf::actor_system& sys,
                                             std::shared_ptr<k8s::client> kube);

// Whether applying the merge patch `patch` to `object` changes it. Pure.
[[nodiscard]] bool patch_changes(const nlohmann::json& object, const nlohmann::json& patch);

} // namespace dbuser::actors
