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
//
// Strategy Alternating (spec.passwordRotation.strategy, PostgreSQL only)
//   Roles: the owner `<username>` (NOLOGIN: it holds the spec's privileges and memberships and
//   owns what the application creates) and two login roles `<username>-a` and `<username>-b`
//   (LOGIN, members of the owner and of nothing else, `ALTER ROLE ... SET role = '<username>'`:
//   a session's session_user is the login role, its current_user the owner). Names with '-'
//   cannot be a PostgresUser's spec.username, so no other resource can claim them; they carry
//   the owner's marker.
//   The Secret: `username` is the active login role, `owner-role` the owner; annotations
//   `previous-username` and `previous-valid-until` name the previous credentials and their end.
//   Flow (the same steps as above; the role changes with the password):
//     2. P' for the other login role L' (rotation_target), pending in the Secret; `username`
//        and `password` still hold L and P.
//     3. Converge with L' active, its password set to P' (created, or LOGIN enabled again, as
//        needed) and L kept as it is; log in as L' with P'.
//     4. Promote: `username` L', `password` P', previous = L until now + overlap, in one write.
//        Event PasswordRotated.
//     5. Recovery as above: the pending password always belongs to rotation_target(username).
//     6. Overlap end: once previous-valid-until has passed, the converge disables L (ALTER ROLE
//        NOLOGIN PASSWORD NULL: "password authentication failed"; its open sessions, objects
//        and memberships stay), then the Secret drops the annotations. Event
//        PreviousCredentialsExpired.
//   A rotation whose target is still the previous role within its overlap (an on-demand
//   rotation soon after another) waits until the overlap ends: every credential handed out
//   keeps its full overlap. Interval rotations never wait (overlap <= interval).
//   Switching strategy is a rotation: InPlace -> Alternating rotates to `<username>-a` and the
//   owner's own login is the previous credentials (disabled when the overlap ends: the owner is
//   NOLOGIN from then on); Alternating -> InPlace rotates to the owner (LOGIN again, new
//   password) and the login role is the previous one. Login roles are dropped with the user
//   (each REASSIGN/DROP OWNED, then DROP ROLE), not before.
//   Guarantees: at every instant the Secret's `username`/`password` log in; the previous
//   credentials log in until their end and not after (the next reconcile after it; the
//   supervisor wakes at that time); at most one login role besides the active one can log in
//   (the previous, within its overlap, or the pending target during step 3).

#include "api/postgres_user.hpp"
#include "pg/plan.hpp"

#include <array>
#include <chrono>
#include <vector>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace dbuser::api {

// Annotations on the credentials Secret.
inline constexpr const char* rotated_for_annotation = "database.example.com/rotated-for";
inline constexpr const char* password_updated_annotation = "database.example.com/password-updated-at";
inline constexpr const char* previous_username_annotation = "database.example.com/previous-username";
inline constexpr const char* previous_valid_until_annotation =
  "database.example.com/previous-valid-until";

// What the Secret says about the password (read by rotation_state_of).
struct rotation_state {
  std::optional<std::string> pending;            // step 2 happened, step 4 did not
  std::string rotated_for;                        // the last rotate annotation value handled
  std::optional<std::chrono::system_clock::time_point> updated_at;
  std::string username;                           // the Secret's `username`
  std::string previous;                           // previous-username ("" none)
  std::string previous_until;                     // previous-valid-until (RFC 3339)
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

// --- Strategy Alternating ---

// The two login roles of owner role `owner`: "<owner>-a", "<owner>-b".
[[nodiscard]] std::array<std::string, 2> login_roles(const std::string& owner);

// The role the credentials of `spec` should log in as after a rotation from `active` (the
// Secret's username; "" for none): InPlace the owner itself; Alternating the login role that is
// not active ("<owner>-a" when the owner or nothing is).
[[nodiscard]] std::string rotation_target(const user_spec& spec, const std::string& active);

// The credentials log in as a role the strategy does not use (the strategy changed): a rotation
// to rotation_target() is due.
[[nodiscard]] bool strategy_switch_due(const user_spec& spec, const std::string& active);

// The previous credentials still log in at `now`.
[[nodiscard]] bool previous_valid(const std::string& previous, const std::string& until,
                                  std::chrono::system_clock::time_point now);

// What each role of the user should allow while `active` holds the credentials, `keep` (the
// previous role within its overlap, or the role being rotated away from during step 3; "" none)
// keeps what it has, and every other role of the user that exists is disabled. InPlace with the
// owner active and nothing to keep looks at no login role (the common case costs nothing).
// The verifier is left for the caller.
void assign_logins(const user_spec& spec, const std::string& active,
                   const std::vector<std::string>& keep, pg::desired_role& d);

} // namespace dbuser::api
