#pragma once

// `dbuser-operator --release-all`: one install lets go of every user resource it claims, without
// touching any database. Run it before removing the install (docs/install.md, "Uninstall"), or to
// hand its users to another install. Not an actor: a one-shot tool that blocks its own thread.
//
// Expected flow
//   1. List the PostgresUsers and the MySQLUsers (of one namespace, or all); a kind whose CRD is
//      not installed is skipped.
//   2. For each one this install may release (api::releasable: claimed by it, or carrying the
//      finalizer with no claim at all), patch it with api::release_patch: a test of the
//      resourceVersion, the finalizer and the claim removed, released-by set to the install.
//      A failed test (the object changed meanwhile: 422, or 409) reads it again, up to 5 times.
//   3. Log one line per user and a summary.
//
// Guarantees
//   - No SQL: roles, passwords and grants stay. The credentials Secrets are not touched (they
//     stay owned by their resource: deleting the resource later deletes its Secret with it, and
//     another install that claims the resource adopts the Secret).
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
