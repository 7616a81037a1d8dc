#pragma once

// `dbuser-operator --release-all`: one install lets go of every user resource it claims, without
// touching any database. Run it before removing the install (docs/install.md, "Uninstall"), or to
// hand its users to another install. Not an actor: a one-shot tool that blocks its own thread.
//
// Expected flow
//   1. List the PostgresUsers and the MySQLUsers (of one namespace, or all); a kind whose CRD is
//      not installed is skipped.
//   2. For each one this install may release (api::releasable: claimed by it, or carrying the
//      finalizer with no claim at all):
//      a. the user is patched with api::release_patch: a test of the resourceVersion, the
//         finalizer and the claim removed, released-by set to the install. A failed test (the
//         object changed meanwhile: 422, or 409) reads it again, up to 5 times.
//      b. once every user is done, the credentials Secret of each (if the user owns it) is
//         released as in an uninstall (the CRD deleted): its ownerReference removed (a test of
//         the owner's uid first) and the annotation database.example.com/released-by set to
//         <namespace>/<name> of the user. After the users: an operator of this install that
//         still runs leaves a released user alone, but adopts again the released Secret of a
//         user it still claims (its cache may lag by a moment), so every Secret released is
//         looked at again a second later, and released again if it was adopted (3 times).
//      A user this install released before (released-by names it) gets 2b again: a run whose
//      Secret release failed is finished by the next (the Job retries a failed run).
//   3. Log one line per user and a summary.
//
// Guarantees
//   - No SQL: roles, passwords and grants stay. The credentials Secrets stay too, whatever
//     happens to their users next: garbage collection no longer deletes them with their user
//     (the CRDs deleted after the operator, a released user deleted by hand: its role stays, and
//     so do the credentials that log in to it). A user applied or claimed again adopts its
//     Secret (api::released_to), so no password changes.
//   - A Secret that could not be released is a failure (exit code 1); a second run releases it.
//   - Users claimed by another install are not touched.
//   - A running operator of the same install leaves the released users alone (api/claim.hpp), so
//     this may run while it still runs; nothing is left that waits for it (no finalizer).

#include "k8s/client.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace dbuser::actors {

struct release_summary {
  std::size_t released = 0;
  std::size_t left = 0; // claimed by another install, or no finalizer and no claim
  std::vector<std::string> failures; // "kind namespace/name: why"
};

[[nodiscard]] release_summary release_all(k8s::client& kube, const std::string& ns,
                                          const std::string& install_id);

} // namespace dbuser::actors
