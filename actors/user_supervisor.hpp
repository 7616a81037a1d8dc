#pragma once

// One user_supervisor per PostgresUser: it owns the resource's lifecycle, its backoff and its
// timers. It is asked to reconcile by key only and re-reads the world every time.
//
// Expected flow (one reconcile; every step is idempotent)
//   0. Woken by a watch event while the resource and its Secret are exactly as the last
//      successful reconcile left them (its own writes coming back): nothing to do. Woken by its
//      timer: always go on. Then wait for the manager's slot (max_concurrent_reconciles).
//   1. Read the PostgresUser from the informer cache. Gone: the supervisor stops (normal exit).
//  1b. The claim (api/claim.hpp): claimed by another install, or released by this one → leave
//      it alone, writing nothing (log once). Any write below comes after this install's claim:
//      step 4 claims with the finalizer in one patch that tests the resourceVersion; a refusal
//      (2, target policy) or a deletion (3) of a user nobody claimed claims it without adding
//      the finalizer. A claim that loses a race writes nothing else and reads again.
//   2. Parse and validate the spec (the Secret template included; then spec.passwordPolicy over
//      the operator's default). Invalid: Ready=False InvalidSpec with a Warning Event, nothing
//      written (deletion still proceeds).
//   3. Being deleted (finalizer present): per deletionPolicy, drop the role if it is ours
//      (REASSIGN OWNED / DROP OWNED / DROP ROLE), delete the Secret if it is ours, remove the
//      finalizer. Done.
//   4. Add the finalizer and this install's claim if missing (one patch).
//   5. Read the admin Secret (and the CA Secret for verify-*) from the resource's own namespace.
//   6. Read the credentials Secret: not ours → SecretConflict, nothing changed. Its password is
//      the source of truth; a new one is generated (under the policy) only when it has none.
//      Renamed (status.secretName names another Secret) and the new one does not exist yet: the
//      credentials come from the previous Secret when it is ours.
//   7. Ask the target's pool to converge the role: ownership is checked first (unmanaged or
//      owned by another PostgresUser → RoleConflict, nothing changed); then database, role,
//      memberships, grants and default privileges; then the login check (after changes, and every
//      login_check_period), resetting the role's password to the Secret's if the login fails.
//      A fresh supervisor (after a restart) counts the period from the check its status records
//      when that check verified the credentials the Secret holds now (status.connection.
//      secretResourceVersion is the Secret's version, same role and generation): a restart with
//      N Ready users opens no login connection and writes nothing for an unchanged user.
//   8. Write the credentials Secret (created or patched; other people's labels survive; a new
//      type recreates it). Then, after a rename, delete the previous Secret if it is ours
//      (ownerReference and labels; a foreign one is left, with a Warning Event).
//   9. Patch the status (Ready condition, observedGeneration, connection, secretName once step 8
//      finished: until then it names the previous Secret, so a crash between writing the new
//      Secret and deleting the old one is finished by the next reconcile) and record Events.
//  10. Schedule the next wake-up: resync (spread) after success, backoff after a transient
//      failure, resync after a refusal (the cause may be fixed outside Kubernetes).
//
// Guarantees
//   - At most one reconcile of a resource at a time: a reconcile asked for while one runs is
//     remembered and runs right after.
//   - Refusals (invalid spec, foreign role or Secret, reserved names) change nothing.
//   - A resource claimed by another install gets no write of any kind from this one.
//   - Transient failures back off exponentially with jitter (100 ms → 5 min), reset on success.

#include "actors/context.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <memory>
#include <string>

namespace dbuser::actors {

// `restarts`: how many times this resource's supervisor died before (0 on first spawn).
[[nodiscard]] caf::actor spawn_user_supervisor(caf::local_actor* parent, std::string key,
                                               std::shared_ptr<const operator_context> ctx,
                                               int restarts);

} // namespace dbuser::actors
