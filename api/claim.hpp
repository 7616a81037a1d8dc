#pragma once

// Which operator install reconciles a user resource: the claim. Two installs may watch the same
// namespace (a kustomize install and a Helm install during a move, two teams' installs); each
// holds its own leader-election Lease, so leader election alone lets both reconcile the same
// users. A user is therefore claimed by one install, recorded on the resource itself, and every
// other install leaves it alone. Pure: no I/O.
//
// Expected flow (a supervisor of install I, before its first write to the resource)
//   1. Read the claim (claim_of): the annotation `database.example.com/claimed-by` names the
//      install that owns the user; `database.example.com/released-by` names the install that let
//      it go (`--release-all`), when nobody has claimed it since.
//   2. Claimed by another install, or released by I: leave it alone. No status, condition,
//      Event, finalizer or Secret is written; the log says so once.
//   3. Free (no claim; released by another install, or never claimed): claim it with one JSON
//      patch (claim_patch) that tests metadata.resourceVersion, then adds the annotation, the
//      finalizer (when the flow asks for it) and removes released-by. The API server applies a
//      JSON patch to the current object: a `test` that fails (the object changed since it was
//      read, e.g. another install claimed it first) fails the whole patch with 422 and nothing
//      is written; the supervisor reads the object again and starts over at 1.
//   4. Claimed by I: reconcile as usual.
//
// Hand-over (explicit; docs/install.md, "Two installs")
//   - A person moves users to install J: `kubectl annotate pguser NAME --overwrite
//     database.example.com/claimed-by=J` (or `--all -n NS`). I sees another claim and stops
//     touching them; J sees its own claim and reconciles (and adopts the Secrets: they are owned
//     by the same resource).
//   - Install I lets go of everything it claims: `dbuser-operator --release-all` with I's
//     identity (release_patch per user): the finalizer and the claim go, released-by names I;
//     no SQL runs. Any other install then claims them (3); I never takes them back on its own
//     (a person removes the released-by annotation to give them back).
//
// Guarantees
//   - At most one install passes step 3 for a given resourceVersion, so two installs never both
//     reconcile a user they found free.
//   - A user claimed by another install gets no write of any kind from this one.
//   - Releasing and claiming never touch a database.
//
// Assumptions
//   - Installs have distinct identities (default: the leader-election Lease's namespace/name,
//     which is what tells installs apart; replicas of one install share it).

#include "api/postgres_user.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace dbuser::api {

inline constexpr const char* claimed_by_annotation = "database.example.com/claimed-by";
// The same key as the Secret's released-by (api/credentials.hpp): on a user resource its value is
// the install that released it; on a Secret, the resource it was written for.
inline constexpr const char* released_by_annotation = "database.example.com/released-by";

enum class claim_state {
  ours,          // claimed by this install
  free,          // claimed by nobody (never, or released by another install)
  elsewhere,     // claimed by another install
  released_here, // released by this install (--release-all) and claimed by nobody since
};

struct claim {
  claim_state state = claim_state::free;
  std::string holder; // the install named by claimed-by (elsewhere) or released-by
};

[[nodiscard]] claim claim_of(const object_meta& meta, const std::string& install_id);

// The JSON patch that claims `object` for `install_id`: a test of metadata.resourceVersion, the
// claim annotation, the finalizer when `with_finalizer` and it is missing, released-by removed.
// nullopt when there is nothing to add (claimed by this install, finalizer present as asked).
// Call it only when claim_of says ours or free.
[[nodiscard]] std::optional<nlohmann::json> claim_patch(const nlohmann::json& object,
                                                        const std::string& install_id,
                                                        bool with_finalizer);

// Whether `--release-all` of `install_id` lets go of `meta`: claimed by it, or carrying the
// finalizer with no claim at all (written by a version before claims).
[[nodiscard]] bool releasable(const object_meta& meta, const std::string& install_id);

// The JSON patch that releases `object` from `install_id`: a test of metadata.resourceVersion, the
// finalizer and the claim removed, released-by set to the install. nullopt when not releasable.
[[nodiscard]] std::optional<nlohmann::json> release_patch(const nlohmann::json& object,
                                                          const std::string& install_id);

// The install identity when --install-id is not given: "<namespace>/<name>" of the
// leader-election Lease (the Lease is what tells two installs apart).
[[nodiscard]] std::string default_install_id(const std::string& lease_namespace,
                                             const std::string& lease_name);

// Why `id` is not a usable install identity ("" when it is): 1 to 253 characters of
// [A-Za-z0-9._/-], starting and ending with a letter or digit (it is an annotation value and a
// metric label).
[[nodiscard]] std::string install_id_error(const std::string& id);

} // namespace dbuser::api
