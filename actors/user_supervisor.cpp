// The reconcile skeleton of user_supervisor.hpp's flow: the wake-up (step 0), fetch and validate
// (1-2), the finalizer (4), the hand-off to deletion (3, supervisor_delete.cpp) and to the
// converge (5-8: supervisor_admin.cpp, supervisor_converge.cpp), and the actor's behaviour. How a
// reconcile ends (9-10) is in supervisor_status.cpp; the rotation in supervisor_rotation.cpp.

#include "actors/user_supervisor.hpp"

#include "actors/supervisor_internal.hpp"
#include "api/claim.hpp"
#include "api/shard.hpp"
#include "api/mysql_user.hpp"
#include "api/postgres_role.hpp"
#include "messages/db.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace dbuser::actors::supervision {

// The user object's reconcile inputs, a Secret's resourceVersion ("" when absent) and the target
// policy's refusal ("" when allowed), hashed.
std::size_t state_hash(const json& user, const std::optional<json>& secret,
                       const std::string& refusal_by_policy) {
  const std::string version =
    secret ? secret->value("/metadata/resourceVersion"_json_pointer, "") : std::string();
  return std::hash<std::string>{}(api::reconcile_inputs(user) + '\n' + version + '\n'
                                  + refusal_by_policy);
}

expected<api::user_spec, api::spec_error> parse_user(supervisor* self, const json& object) {
  if (ctx(self).serves_roles())
    return api::postgres_role::parse_spec(object);
  return ctx(self).engine == api::engine::mysql ? api::mysql_user::parse_spec(object)
                                                : api::parse_spec(object);
}

// Why the target policies refuse this spec's target for its namespace; "" when they allow it.
// Pure over the caches: no connection, no DNS lookup.
std::string policy_refusal(supervisor* self, const api::user_spec& spec, const std::string& ns) {
  const auto d = ctx(self).targets.decide({ns, spec.eng, spec.host, spec.port});
  return d.allowed ? std::string() : d.message;
}

std::string policy_refusal(supervisor* self, const json& object) {
  auto spec = parse_user(self, object);
  return spec ? policy_refusal(self, *spec, api::parse_meta(object).ns) : std::string();
}

std::string now_text(supervisor* self) {
  return api::rfc3339(ctx(self).now());
}

k8s::object_ref user_ref(supervisor* self, std::string subresource) {
  const auto& m = self->state.rc->meta;
  return k8s::object_ref{ctx(self).resource, m.ns, m.name, std::move(subresource)};
}

// An error from Kubernetes: retry when the API says so, else stop and report.
outcome from_k8s(const k8s::error& e, const std::string& while_) {
  auto msg = while_ + ": " + e.to_string();
  if (e.retryable()) {
    auto o = retry(api::reason::kubernetes_error, msg);
    if (e.retry_after)
      o.min_delay = std::chrono::duration_cast<std::chrono::milliseconds>(*e.retry_after);
    return o;
  }
  return refused(api::reason::kubernetes_error, msg);
}

// An error from PostgreSQL, classified by the one policy of pg::error.
outcome from_db(supervisor* self, const msg::db_error& e) {
  const auto& rc = *self->state.rc;
  if (e.what == msg::db_error::kind::auth && ctx(self).admin_secrets)
    ctx(self).admin_secrets->forget(rc.meta.ns + "/" + rc.spec.admin.name);
  const char* reason = api::reason::database_error;
  if (e.what == msg::db_error::kind::unavailable && !e.from_server) {
    // Not a word from a database server: status and Events say the target and the class of the
    // failure, nothing more about the network; the library's text goes to the operator's log.
    // A target known to be down: the pool logged the outage once; its message is the same for
    // the whole outage (one Event per resource, not per retry).
    spdlog::log(e.target_down ? spdlog::level::debug : spdlog::level::info, "{}: {}",
                rc.meta.key(), e.message);
    const api::target_policy::target t{rc.meta.ns, rc.spec.eng, rc.spec.host, rc.spec.port};
    auto o = retry(api::reason::database_unreachable,
                   "cannot reach " + api::target_policy::describe(t) + ": "
                     + api::unreachable_class(e.message)
                     + (e.target_down ? " (down since " + e.down_since
                                          + "; its users are reconciled when it answers again)"
                                      : std::string()));
    o.quiet = e.target_down;
    return o;
  }
  if (e.what == msg::db_error::kind::unavailable)
    reason = api::reason::database_unreachable;
  if (e.what == msg::db_error::kind::limit) // the same statement would fail the same way
    return refused(api::reason::limit_exceeded, e.message);
  if (e.what == msg::db_error::kind::permission) {
    // Nothing was half-done (the statements of a step share a transaction) and the fix is
    // somebody else's GRANT: try again soon, without a change to the resource.
    auto o = retry(api::reason::insufficient_privilege, e.message);
    o.max_delay = permission_retry_max;
    return o;
  }
  auto o = e.transient ? retry(reason, e.message) : refused(reason, e.message);
  o.quiet = e.target_down;
  return o;
}

void describe_account(const reconcile_ctx& rc, msg::db_job& job, const std::string& active,
                      const std::vector<std::string>& keep) {
  job.owner = rc.meta.key();
  if (!rc.spec.credentials) { // a PostgresRole: NOLOGIN, its own owner key
    job.owner = api::postgres_role::owner_key(rc.meta);
    job.desired = api::postgres_role::desired_role(rc.spec, job.owner);
    return;
  }
  if (rc.spec.eng == api::engine::mysql) {
    job.account = api::mysql_user::desired_account(rc.spec, rc.meta.key());
    return;
  }
  job.desired = api::desired_role(rc.spec, rc.meta.key());
  api::assign_logins(rc.spec, active.empty() ? rc.creds.login(rc.spec) : active, keep,
                     job.desired);
}

std::vector<std::string> kept_logins(supervisor* self) {
  const auto& c = self->state.rc->creds;
  if (api::previous_valid(c.previous, c.previous_until, ctx(self).now()))
    return {c.previous};
  return {};
}

// --- 1-4: fetch, validate, finalizer -------------------------------------------------------

// Step 4 with the claim (supervisor_claim.cpp): the finalizer and this install's claim, in one
// patch.
void step_finalizer(supervisor* self) {
  ensure_claim(self, true, [self] {
    step_admin(self, [self] {
      if (ctx(self).serves_roles())
        step_role(self); // no credentials: the database alone
      else
        step_credentials(self);
    });
  });
}

// Gone (deleted and finalized): nothing left to do for this resource.
void stop_for_good(supervisor* self) {
  report(self, "Stopped", milliseconds(0), false, 0, true);
  self->quit();
}

// Woken (`resync`: by its timer — periodic resync, retry, rotation — not by a watch event): is
// there anything to do? Then wait for a slot; step_fetch runs when the manager grants it.
void wake(supervisor* self, bool resync) {
  auto& st = self->state;
  // The target policies are not known yet: decide nothing (the operator wakes every supervisor
  // once they are).
  if (!ctx(self).targets.synced())
    return;
  auto object = ctx(self).users->get(st.key);
  if (!object) {
    stop_for_good(self);
    return;
  }
  // Nothing Kubernetes shows changed since the last success or refusal: the event was our own
  // write coming back. The database side (drift) is checked by the periodic resync, which always
  // runs.
  const bool unchanged =
    st.settled
    && *st.settled
         == state_hash(*object, ctx(self).secrets->get(st.settled_secret),
                       policy_refusal(self, *object));
  if (!resync && unchanged)
    return;
  st.running = true;
  // Urgent (fair_queue.hpp): a resource that is new or changed since its last reconcile and not
  // being deleted; resyncs, retries of what did not change, and deletions wait in the background.
  const bool deleting = object->contains("/metadata/deletionTimestamp"_json_pointer);
  const auto ns = st.key.substr(0, st.key.find('/'));
  self->send(st.manager, msg::acquire_atom::value, api::target_key(*object, ctx(self).engine), ns,
             !unchanged && !deleting);
}

void step_fetch(supervisor* self) {
  auto& st = self->state;
  auto object = ctx(self).users->get(st.key);
  if (!object) {
    stop_for_good(self); // the manager frees the slot when it sees this supervisor go
    return;
  }
  ++st.reconciles;
  st.rc = std::make_unique<reconcile_ctx>();
  auto& rc = *st.rc;
  rc.started = steady_clock::now();
  rc.object = std::move(*object);
  rc.meta = api::parse_meta(rc.object);
  if (ctx(self).settings.fault_injection && st.restarts == 0
      && rc.meta.annotation(fault_injection_annotation) == "throw")
    throw std::runtime_error("fault injection: supervisor of " + st.key + " throws");
  report(self, "Reconciling");
  auto spec = parse_user(self, rc.object);
  rc.spec_valid = static_cast<bool>(spec);
  if (spec) {
    rc.spec = std::move(*spec);
    rc.refusal_by_policy = policy_refusal(self, rc.spec, rc.meta.ns);
  } else {
    rc.spec_error = spec.error().message;
  }
  if (rc.spec_valid) {
    const auto recorded = rc.object.value("/status/secretName"_json_pointer, std::string());
    if (recorded != rc.spec.secret_name)
      rc.previous_secret = recorded;
  }
  // Claimed by another install, or released by this one: nothing is written (api/claim.hpp).
  const auto claim = api::claim_of(rc.meta, ctx(self).settings.install_id);
  if (claim.state == api::claim_state::elsewhere
      || claim.state == api::claim_state::released_here) {
    leave_alone(self, claim);
    return;
  }
  if (rc.meta.deleting) {
    if (!rc.meta.has_finalizer(api::finalizer)) {
      done_running(self);
      return;
    }
    ensure_claim(self, false, [self] { step_delete(self); });
    return;
  }
  // Its namespace is being deleted, and the user with it next: nothing converges meanwhile. The
  // namespace controller deletes the Secrets first, and a user whose Secret went would otherwise
  // get a new password (ALTER ROLE) that no Secret can hold any more: a Retain role would be
  // kept with a password nobody knows. The user's own deletion wakes this supervisor.
  if (ctx(self).targets.namespace_terminating(rc.meta.ns)) {
    spdlog::info("{}: its namespace is being deleted: waiting for its own deletion, changing "
                 "nothing",
                 st.key);
    done_running(self);
    return;
  }
  if (rc.spec_valid) {
    auto policy = api::effective_policy(ctx(self).settings.password_policy,
                                        rc.spec.password_policy, "spec.passwordPolicy");
    if (policy)
      rc.policy = std::move(*policy);
    else
      rc.spec_valid = false, rc.spec_error = policy.error();
  }
  // A refusal writes the status: claimed first (without a finalizer), as any write.
  if (!rc.spec_valid) {
    ensure_claim(self, false, [self] {
      finish(self, refused(api::reason::invalid_spec, self->state.rc->spec_error));
    });
    return;
  }
  if (!rc.refusal_by_policy.empty()) {
    // Before the finalizer, the admin Secret and the pool: nothing touches the target. A user
    // refused from the start carries no finalizer, so deleting it needs nothing.
    rc.secret_seen = ctx(self).secrets->get(rc.meta.ns + "/" + rc.spec.secret_name);
    ensure_claim(self, false, [self] {
      finish(self, refused(api::reason::target_not_allowed,
                           self->state.rc->refusal_by_policy
                             + "; the operator does not connect to it and changes nothing there "
                               "(no role is dropped) until a DatabaseTargetPolicy allows it"));
    });
    return;
  }
  step_finalizer(self);
}

caf::behavior user_supervisor(supervisor* self, std::string key,
                              std::shared_ptr<const operator_context> context, int restarts,
                              caf::actor manager) {
  self->state.key = std::move(key);
  self->state.ctx = std::move(context);
  self->state.restarts = restarts;
  self->state.manager = std::move(manager);
  return {
    [self](msg::reconcile_atom) {
      if (self->state.running)
        self->state.pending = true;
      else
        wake(self, false);
    },
    [self](msg::tick_atom, std::uint64_t epoch) {
      if (epoch != self->state.epoch)
        return; // superseded by a later schedule
      if (self->state.running)
        self->state.pending = self->state.pending_resync = true;
      else
        wake(self, true);
    },
    [self](msg::grant_atom) { step_fetch(self); },
    [](msg::resume_atom, continuation& c) { c.run(); },
  };
}

} // namespace dbuser::actors::supervision

namespace dbuser::actors {

caf::actor spawn_user_supervisor(caf::local_actor* parent, std::string key,
                                 std::shared_ptr<const operator_context> ctx, int restarts) {
  return parent->spawn<caf::monitored>(supervision::user_supervisor, std::move(key),
                                       std::move(ctx), restarts,
                                       caf::actor_cast<caf::actor>(parent));
}

} // namespace dbuser::actors
