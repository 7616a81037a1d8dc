#pragma once

// Internals of the user supervisor, shared by its translation units, one a part of
// user_supervisor.hpp's flow: user_supervisor.cpp, the reconcile skeleton (steps 0-2 and 4, the
// behaviour); supervisor_delete.cpp, deletion (3); supervisor_admin.cpp, the admin and CA Secrets
// (5); supervisor_converge.cpp, the credentials, the database and the Secret written (6-8);
// supervisor_status.cpp, status, Events and the next wake-up (9-10); supervisor_rotation.cpp, the
// rotation protocol. Not a public interface.

#include "actors/context.hpp"
#include "actors/continuation.hpp"
#include "api/claim.hpp"
#include "api/credentials.hpp"
#include "api/postgres_user.hpp"
#include "api/rotation.hpp"
#include "api/status.hpp"
#include "messages/db.hpp"
#include "messages/secrets.hpp"
#include "pg/password.hpp"

#include <caf/all.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace dbuser::actors::supervision {

using namespace std::chrono;

// The longest wait between attempts while the admin lacks a right (InsufficientPrivilege).
inline constexpr milliseconds permission_retry_max{60000};
// The shortest wait (spread out) before retrying on its own while the target is down: the pool
// wakes the supervisor when the target answers again.
inline constexpr milliseconds target_down_retry{60000};
using nlohmann::json;

// How one reconcile ended.
struct outcome {
  enum class kind { success, retry, refused } what = kind::success;
  std::string reason;
  std::string message;
  // For a retry: the longest wait between attempts, when shorter than the backoff's maximum
  // (a missing right is granted by a person: seconds to a minute, not five minutes).
  std::optional<std::chrono::milliseconds> max_delay;
  // Its target is known to be down (the job failed fast): logged at debug level, and its Event
  // is not repeated while the message stays the same.
  bool quiet = false;
  // For a retry: the shortest wait, when the server said (429 Too Many Requests' Retry-After:
  // the API server's priority and fairness asking clients to come back later).
  std::optional<std::chrono::milliseconds> min_delay = std::nullopt;
};

inline outcome success(std::string message) {
  return {outcome::kind::success, api::reason::reconciled, std::move(message), std::nullopt, false};
}
inline outcome retry(std::string reason, std::string message) {
  return {outcome::kind::retry, std::move(reason), std::move(message), std::nullopt, false};
}
inline outcome refused(std::string reason, std::string message) {
  return {outcome::kind::refused, std::move(reason), std::move(message), std::nullopt, false};
}

// The reconcile in progress.
struct reconcile_ctx {
  json object;
  api::object_meta meta;
  api::user_spec spec;
  bool spec_valid = false;
  std::string spec_error;
  pg::password_policy policy; // the operator's default with spec.passwordPolicy applied
  // status.secretName when the spec names another Secret now (a rename not finished yet): the
  // Secret to take the credentials from when the new one does not exist, and to delete (if it
  // is ours) once the new one is written.
  std::string previous_secret;
  bool secret_confirmed = false; // the Secret of spec.secretName holds our credentials now
  msg::db_target target;
  caf::actor pool;
  bool secret_exists = false;
  std::optional<json> secret_seen; // the Secret as read in step 6 (when it exists and is ours)
  std::string refusal_by_policy;   // why the target policy refuses the target ("" allowed)
  api::credentials creds;         // what the Secret holds (or is about to)
  api::rotation_state rotation;   // what the Secret said when read
  bool new_password = false;
  std::optional<api::connection_check> connection;
  std::optional<std::string> password_updated_at;
  std::vector<std::string> changes;
  steady_clock::time_point started;
};

struct supervisor_state {
  std::string key;
  std::shared_ptr<const operator_context> ctx;
  caf::actor manager; // grants the reconcile slot
  int restarts = 0;
  bool running = false; // waiting for a slot, or reconciling
  bool pending = false;        // woken while running: reconcile again when this one ends
  bool pending_resync = false; // ... and one of the wake-ups was the timer (never skipped)
  // What Kubernetes showed when the last reconcile succeeded or was refused (the user object's
  // reconcile inputs and the resourceVersion of Secret `settled_secret`), hashed. A watch event
  // that finds both unchanged — the echo of our own finalizer patch or Secret write — starts no
  // reconcile.
  std::optional<std::size_t> settled;
  std::string settled_secret;
  // What this supervisor's last status write set (api::status_fingerprint), until one fails: a
  // status that the cache shows the same as the next one is written anyway when it differs from
  // this (the cache may not have seen that write yet: skipping would lose the update).
  std::optional<std::size_t> written_status;
  std::uint64_t epoch = 0;
  int attempts = 0;
  std::uint64_t reconciles = 0;
  std::string last_error;
  std::string last_result;
  std::int64_t last_success_unix = 0;
  std::int64_t rotation_due_unix = 0; // when the next periodic rotation is due (0: none), for /metrics
  steady_clock::time_point last_login_check{};
  // The install this one leaves the resource to ("" while it is ours; this install's own id
  // while it is released here), and the claim last logged (logged once, not per wake-up).
  std::string left_to;
  std::string announced;
  std::minstd_rand rng{std::random_device{}()}; // jitter only; 8 bytes, not mt19937's 2.5 KB
  std::unique_ptr<reconcile_ctx> rc;
  static inline const char* name = "user_supervisor";
};

using supervisor = caf::stateful_actor<supervisor_state>;


inline const operator_context& ctx(supervisor* self) {
  return *self->state.ctx;
}

inline caf::actor handle(supervisor* self) {
  return caf::actor_cast<caf::actor>(self);
}

template <class T>
k8s::callback<T> then(supervisor* self, std::function<void(expected<T, k8s::error>)> fn) {
  return resume_in<T>(handle(self), std::move(fn));
}

// Step 0 (user_supervisor.cpp): woken (`resync`: by its timer, not by a watch event); waits for a
// slot when there is anything to do.
void wake(supervisor* self, bool resync);
// The user object's reconcile inputs, a Secret's resourceVersion ("" when absent) and the target
// policy's refusal ("" when allowed), hashed.
std::size_t state_hash(const json& user, const std::optional<json>& secret,
                       const std::string& refusal_by_policy);
// The resource being reconciled (or its `subresource`), for requests to the API server.
k8s::object_ref user_ref(supervisor* self, std::string subresource = "");
// The supervisor's phase and figures, for /metrics and the debug page.
void report(supervisor* self, const std::string& phase, milliseconds next = milliseconds(0),
            bool ready = false, double duration = 0, bool deleted = false);
// Ends the reconcile: status, Events, next wake-up.
void finish(supervisor* self, outcome o);
// The reconcile is over (after finish, or with nothing to report): frees the slot, runs a
// wake-up that came meanwhile.
void done_running(supervisor* self);
// Changes, bounded for an Event message.
std::string summary(const std::vector<std::string>& changes);
// A Normal or Warning Event about the resource being reconciled.
void event(supervisor* self, const char* type, const std::string& reason,
           const std::string& message);
std::string now_text(supervisor* self);
// The one command that lets a resource being deleted go without dropping its role (its
// deletionPolicy set to Retain), for the messages of a deletion that waits (supervisor_delete.cpp).
std::string retain_command(supervisor* self);
// An error from the database job; an authentication failure also drops the cached admin Secret
// (someone may have changed the password: the next attempt reads it again).
outcome from_db(supervisor* self, const msg::db_error& e);
// The job's owner and desired account/role, for the resource's engine: the credentials log in
// as `active` ("" : the Secret's), `keep` keep what they have (see api::assign_logins).
void describe_account(const reconcile_ctx& rc, msg::db_job& job, const std::string& active = {},
                      const std::vector<std::string>& keep = {});
// The previous credentials, while they still log in (empty after their overlap).
std::vector<std::string> kept_logins(supervisor* self);
outcome from_k8s(const k8s::error& e, const std::string& while_);
// Writes the Secret to hold rc.creds, then runs `next` (or finishes with the failure).
void write_secret(supervisor* self, std::function<void(bool written)> next);
// Deletes Secret `name` if (and only if) it is ours, then runs `next` with the outcome.
void erase_secret(supervisor* self, const std::string& name,
                  std::function<void(msg::secret_outcome&)> next);
// Why the converge would not touch the role (unmanaged, or another resource's).
std::string claim_message(const msg::db_result& r, const std::string& role);
// Resolves the pool for the target, then runs `next`.
void with_pool(supervisor* self, std::function<void()> next);
// Schedules the next wake-up (a tick) after `delay`; a later schedule supersedes it.
void schedule(supervisor* self, milliseconds delay);
// The claim (supervisor_claim.cpp, api/claim.hpp): claims the resource for this install when it
// is not yet (with the finalizer when `with_finalizer`), then runs `next`. A lost race or a failed
// patch writes nothing else and tries again after a backoff.
void ensure_claim(supervisor* self, bool with_finalizer, std::function<void()> next);
// Another install owns the resource, or this one released it: ends the reconcile without a
// write of any kind, and says so once in the log.
void leave_alone(supervisor* self, const api::claim& claim);
// Step 3 (supervisor_delete.cpp): the role per deletionPolicy, the Secrets, the finalizer.
void step_delete(supervisor* self);
// Step 5 (supervisor_admin.cpp): reads the admin (and CA) Secret into rc.target, then `next`.
void step_admin(supervisor* self, std::function<void()> next);
// Step 6 (supervisor_converge.cpp): reads the credentials Secret, then converges (7) and writes
// it (8).
void step_credentials(supervisor* self);
// A PostgresRole's converge: no credentials, the database alone (supervisor_converge.cpp).
void step_role(supervisor* self);
// Step 7 (converge) and its rotation counterparts (supervisor_rotation.cpp).
void step_database(supervisor* self);
// Recovery (flow step 5): finish a rotation whose pending password the Secret holds, then `next`.
void resume_rotation(supervisor* self, std::function<void()> next);
// Flow steps 1-4 after a successful converge: rotate if due, then finish.
void rotate_if_due(supervisor* self, outcome success_outcome);

} // namespace dbuser::actors::supervision
