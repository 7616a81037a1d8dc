#pragma once

// Password rotation: when one is due, and the crash-safe protocol that performs it.
//
// Expected flow (the supervisor runs it; every step is idempotent)
//   1. Due: the PostgresUser's `database.example.com/rotate` annotation has a value the Secret
//      has not recorded as handled (annotation `rotated-for` on the Secret), or
//      spec.passwordRotation.interval has passed since the Secret's `password-updated-at`.
//   2. Generate P' (CSPRNG, under the resource's current password policy: a policy change
//      takes effect here, at the next rotation) and PATCH the Secret to hold it under the
//      internal key `dbuser-operator.internal.pending-password`; `password` still holds P, which
//      logs in.
//   3. ALTER ROLE ... PASSWORD '<SCRAM verifier of P'>' (only if the role is ours), then log in
//      with P'.
//   4. Promote: PATCH the Secret so that `password` (and uri, jdbc-url) hold P', remove the
//      pending key, record `rotated-for` and `password-updated-at`. Event PasswordRotated.
//   5. Recovery: a reconcile that finds a pending password (a crash or a failure anywhere in
//      2–4) resumes at 3 with it, before anything else; ALTER ROLE to the same password again is
//      harmless.
//
// Guarantees
//   - At every instant the Secret holds a password that logs in: P until step 3 commits; after
//     it, P' is in the Secret (pending) and the next reconcile promotes it. Which one logs in is
//     never guessed: after step 3 the pending one is the role's password.
//   - A SIGKILL at any point leaves either no pending key (nothing happened, or it finished) or
//     a pending key that the next reconcile finishes with.
//   - One rotation per new annotation value; a rotation never touches a role that is not ours;
//     a rotation in progress never blocks deletion (deletion ignores the pending key).
//   - While PostgreSQL is down, step 3 fails and is retried with backoff; P keeps working.
//
// Assumptions
//   - Only the operator writes the pending key and the two annotations (they are documented as
//     internal). Applications read `password`, never the pending key.
//   - The operator is the only writer of the role's password (otherwise drift repair resets it
//     to the Secret's `password`).

#include "api/postgres_user.hpp"

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace dbuser::api {

// Annotations on the credentials Secret.
inline constexpr const char* rotated_for_annotation = "database.example.com/rotated-for";
inline constexpr const char* password_updated_annotation = "database.example.com/password-updated-at";

// What the Secret says about the password (read by rotation_state_of).
struct rotation_state {
  std::optional<std::string> pending;            // step 2 happened, step 4 did not
  std::string rotated_for;                        // the last rotate annotation value handled
  std::optional<std::chrono::system_clock::time_point> updated_at;
};

[[nodiscard]] rotation_state rotation_state_of(const nlohmann::json& secret);

enum class rotation_due { no, requested, interval };

// Step 1. `annotation` is the PostgresUser's rotate annotation ("" when absent).
[[nodiscard]] rotation_due rotation_is_due(const user_spec& spec,
                                           const std::string& annotation,
                                           const rotation_state& state,
                                           std::chrono::system_clock::time_point now);

// When the next periodic rotation falls due (nullopt: no interval).
[[nodiscard]] std::optional<std::chrono::system_clock::time_point>
next_rotation(const user_spec& spec, const rotation_state& state);

} // namespace dbuser::api
