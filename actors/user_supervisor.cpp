#include "actors/user_supervisor.hpp"

#include "actors/secret_writer.hpp"
#include "actors/supervisor_internal.hpp"
#include "api/mysql_user.hpp"
#include "k8s/events.hpp"
#include "mysql/validation.hpp"
#include "messages/db.hpp"
#include "messages/secrets.hpp"
#include "pg/validation.hpp"

#include <caf/all.hpp>
#include <random>
#include <spdlog/spdlog.h>

namespace dbuser::actors::supervision {

void wake(supervisor* self, bool resync);

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

void report(supervisor* self, const std::string& phase, milliseconds next = milliseconds(0),
            bool ready = false, double duration = 0, bool deleted = false) {
  auto& st = self->state;
  if (!ctx(self).report)
    return;
  supervisor_report r;
  r.kind = ctx(self).engine == api::engine::mysql ? api::mysql_user::kind : api::kind;
  r.key = st.key;
  r.phase = phase;
  r.attempts = st.attempts;
  r.restarts = st.restarts;
  r.last_error = st.last_error;
  r.last_result = st.last_result;
  r.next_wakeup_ms = next.count();
  r.last_success_unix = st.last_success_unix;
  r.rotation_due_unix = st.rotation_due_unix;
  r.last_duration_seconds = duration;
  r.ready = ready;
  r.deleted = deleted;
  ctx(self).report(r);
}

void event(supervisor* self, const char* type, const std::string& reason,
           const std::string& message) {
  auto& rc = *self->state.rc;
  k8s::event_info info;
  info.type = type;
  info.reason = reason;
  info.message = message;
  info.instance = ctx(self).settings.instance;
  k8s::record_event(ctx(self).kube, rc.object, info);
}

k8s::object_ref user_ref(supervisor* self, std::string subresource = "") {
  const auto& m = self->state.rc->meta;
  return k8s::object_ref{ctx(self).resource, m.ns, m.name, std::move(subresource)};
}

// An error from Kubernetes: retry when the API says so, else stop and report.
outcome from_k8s(const k8s::error& e, const std::string& while_) {
  auto msg = while_ + ": " + e.to_string();
  if (e.retryable())
    return retry(api::reason::kubernetes_error, msg);
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

// --- 9/10: status, events, next wake-up ---------------------------------------------------

// "created role myapp; granted SELECT on myapp_db.public; ..." bounded for an Event message.
std::string summary(const std::vector<std::string>& changes) {
  std::string s;
  for (const auto& c : changes) {
    if (s.size() + c.size() > 900) {
      s += "; and " + std::to_string(changes.size()) + " changes in all";
      break;
    }
    s += (s.empty() ? "" : "; ") + c;
  }
  return s;
}

void schedule(supervisor* self, milliseconds delay) {
  self->delayed_send(self, delay, msg::tick_atom::value, ++self->state.epoch);
}

void done_running(supervisor* self) {
  auto& st = self->state;
  st.running = false;
  st.rc.reset();
  self->send(st.manager, msg::release_atom::value);
  if (st.pending) {
    const bool resync = st.pending_resync;
    st.pending = st.pending_resync = false;
    wake(self, resync);
  }
}

// When the next periodic rotation is due, if the spec has an interval; `known_age` says whether
// the password's last change is known (without it, next_rotation treats it as due now).
std::optional<system_clock::time_point> next_rotation_at(supervisor* self, bool& known_age) {
  auto& rc = *self->state.rc;
  known_age = false;
  if (!rc.spec_valid || !rc.spec.rotation_interval)
    return std::nullopt;
  api::rotation_state s;
  s.updated_at = api::parse_rfc3339(rc.creds.updated_at);
  known_age = s.updated_at.has_value();
  return api::next_rotation(rc.spec, s);
}

// Time until the next periodic rotation, if the spec has an interval.
std::optional<milliseconds> rotation_due_in(supervisor* self) {
  bool known_age = false;
  auto at = next_rotation_at(self, known_age);
  if (!at)
    return std::nullopt;
  auto left = duration_cast<milliseconds>(*at - ctx(self).now());
  return std::max(left, milliseconds(100));
}

// The same in seconds since the epoch, for /metrics; 0 without an interval or when the
// password's age is unknown.
std::int64_t rotation_due_unix(supervisor* self) {
  bool known_age = false;
  auto at = next_rotation_at(self, known_age);
  return at && known_age ? duration_cast<seconds>(at->time_since_epoch()).count() : 0;
}

void finish(supervisor* self, outcome o) {
  auto& st = self->state;
  auto& rc = *st.rc;
  const bool ok = o.what == outcome::kind::success;
  std::uniform_real_distribution<double> draw(0.0, 1.0);
  milliseconds next = spread(ctx(self).settings.resync_period, draw(st.rng));
  // A deletion that cannot proceed is never left to the resync: whatever stops it (a right, a
  // missing Secret, a refusal) is someone's fix away, and the finalizer waits on it.
  // (Its retries wait at most permission_retry_max, below.)
  if (rc.meta.deleting && o.what == outcome::kind::refused)
    o.what = outcome::kind::retry;
  if (o.what == outcome::kind::retry) {
    ++st.attempts;
    auto policy = ctx(self).settings.backoff;
    if (o.max_delay)
      policy.max = std::min(policy.max, *o.max_delay);
    if (rc.meta.deleting)
      policy.max = std::min(policy.max, permission_retry_max);
    next = backoff_delay(policy, st.attempts, draw(st.rng));
    // Its target is down: the pool wakes this supervisor when a probe gets an answer. Retrying
    // sooner would only spend the shared Kubernetes client's rate on requests that fail fast.
    if (o.quiet)
      next = std::max(next, std::min(policy.max, spread(target_down_retry, draw(st.rng))));
  } else if (ok) {
    if (auto due = rotation_due_in(self); due && *due < next)
      next = *due;
    // The previous credentials' overlap ends (their role is disabled then; a deferred rotation
    // runs): a second after, so that the time, kept to the second, has passed.
    if (auto end = api::parse_rfc3339(rc.creds.previous_until); end && !rc.creds.previous.empty()) {
      auto left = duration_cast<milliseconds>(*end - ctx(self).now()) + seconds(1);
      next = std::min(next, std::max(left, milliseconds(100)));
    }
    st.attempts = 0;
    st.rotation_due_unix = rotation_due_unix(self);
    st.last_success_unix = duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
  }
  // Settled after a success or a refusal (both wait for a change, or the resync); not after a
  // retry, whose timer runs anyway.
  st.settled.reset();
  if (o.what != outcome::kind::retry && !rc.meta.deleting) {
    st.settled_secret = rc.meta.ns + "/" + rc.spec.secret_name;
    // The Secret as this reconcile left it (the cache may not have seen our write yet).
    st.settled = state_hash(rc.object, rc.secret_seen, rc.refusal_by_policy);
  }
  // A target that is down: one Event per resource and outage (its message names the outage's
  // start), not one per retry; the pool logs the outage once.
  const std::string error = ok ? "" : o.reason + ": " + o.message;
  const bool repeated = o.quiet && error == st.last_error;
  st.last_error = error;
  st.last_result = ok ? "success" : (o.what == outcome::kind::retry ? "retry" : "refused");
  const double took = duration<double>(steady_clock::now() - rc.started).count();
  if (ok)
    spdlog::info("{}: reconciled in {:.0f} ms{}", st.key, took * 1000,
                 rc.changes.empty() ? "" : " (" + std::to_string(rc.changes.size()) + " changes)");
  else
    spdlog::log(o.quiet ? spdlog::level::debug : spdlog::level::warn,
                "{}: {} ({}), next attempt in {} ms", st.key, o.message, o.reason, next.count());
  if (!ok) {
    if (!repeated)
      event(self, "Warning", o.reason, o.message);
  } else if (!rc.changes.empty())
    event(self, "Normal", "Reconciled", summary(rc.changes));
  schedule(self, next);
  report(self, ok ? "Idle" : (o.what == outcome::kind::retry ? "Backoff" : "Refused"), next, ok,
         took);

  api::status_report r;
  r.ready = ok;
  r.reason = o.reason;
  r.message = o.message;
  r.observed_generation = rc.meta.generation;
  r.connection = rc.connection;
  // The Secret version that holds the checked credentials, once written (see seed_login_check).
  if (r.connection && rc.secret_confirmed && rc.secret_seen)
    r.connection->secret_version =
      rc.secret_seen->value("/metadata/resourceVersion"_json_pointer, "");
  r.password_updated_at = rc.password_updated_at;
  if (rc.secret_confirmed) {
    r.secret_name = rc.spec.secret_name;
    if (rc.spec.eng == api::engine::postgres) {
      api::login_status l;
      l.role = rc.creds.login(rc.spec);
      l.previous = rc.creds.previous;
      l.previous_valid_until = rc.creds.previous_until;
      r.logins = l;
    }
  }
  const json current = rc.object.value("status", json::object());
  json next_status = api::next_status(current, r, now_text(self));
  if (api::same_status(current, next_status)) {
    done_running(self);
    return;
  }
  ctx(self).kube->patch(user_ref(self, "status"), k8s::patch_type::merge,
                        json{{"status", next_status}},
                        then<json>(self, [self](expected<json, k8s::error> r2) {
                          if (!r2 && r2.error().code != k8s::error::kind::not_found)
                            spdlog::warn("{}: status update failed: {}", self->state.key,
                                         r2.error().to_string());
                          done_running(self);
                        }));
}

// --- 8: the credentials Secret -----------------------------------------------------------

msg::secret_write secret_request(const reconcile_ctx& rc) {
  msg::secret_write w;
  w.ns = rc.meta.ns;
  w.name = rc.spec.secret_name;
  w.owner_uid = rc.meta.uid;
  w.create = api::credentials_secret(rc.spec, rc.meta, rc.creds);
  w.patch = api::credentials_patch(rc.spec, rc.meta, rc.creds,
                                   rc.secret_seen ? &*rc.secret_seen : nullptr);
  return w;
}

void write_secret(supervisor* self, std::function<void(bool written)> next) {
  auto& rc = *self->state.rc;
  auto request = secret_request(rc);
  if (rc.secret_seen) {
    // Nothing to change since it was read: no request at all (the common resync case). A new
    // type goes through the writer's read (it recreates the Secret: the type is immutable).
    const bool retype = api::secret_type_differs(*rc.secret_seen, rc.spec);
    if (!retype && !patch_changes(*rc.secret_seen, request.patch)) {
      next(false);
      return;
    }
    if (!retype)
      request.seen_ours_at = rc.secret_seen->value("/metadata/resourceVersion"_json_pointer, "");
  } else if (!rc.secret_exists) {
    request.seen_absent = true;
  }
  self->request(ctx(self).secret_writer, seconds(60), msg::write_atom::value, std::move(request))
    .then(
      [self, next](msg::secret_outcome& o) {
        auto& r = *self->state.rc;
        switch (o.status) {
          case msg::secret_status::written:
          case msg::secret_status::unchanged:
            r.secret_exists = true;
            r.secret_seen = o.object.is_object() ? std::optional<json>(o.object) : std::nullopt;
            next(o.status == msg::secret_status::written);
            return;
          case msg::secret_status::foreign:
            finish(self, refused(api::reason::secret_conflict, o.message));
            return;
          default:
            finish(self, o.transient ? retry(api::reason::kubernetes_error, o.message)
                                     : refused(api::reason::kubernetes_error, o.message));
        }
      },
      [self](caf::error& err) {
        finish(self, retry(api::reason::kubernetes_error,
                           "secret writer: " + self->system().render(err)));
      });
}

// Deletes Secret `name` if (and only if) it is ours, then runs `next` with the outcome.
void erase_secret(supervisor* self, const std::string& name,
                  std::function<void(msg::secret_outcome&)> next) {
  auto request = secret_request(*self->state.rc);
  request.name = name;
  self->request(ctx(self).secret_writer, seconds(60), msg::erase_atom::value, std::move(request))
    .then([next](msg::secret_outcome& o) { next(o); },
          [self, next](caf::error& err) {
            msg::secret_outcome o;
            o.message = "secret writer: " + self->system().render(err);
            o.transient = true;
            next(o);
          });
}

// After a rename, once the new Secret holds the credentials: the old one goes if it is ours.
void remove_previous_secret(supervisor* self, std::function<void()> next) {
  auto& rc = *self->state.rc;
  if (rc.previous_secret.empty()) {
    next();
    return;
  }
  erase_secret(self, rc.previous_secret, [self, next](msg::secret_outcome& o) {
    auto& r = *self->state.rc;
    switch (o.status) {
      case msg::secret_status::deleted:
        r.changes.push_back("deleted Secret " + r.previous_secret + " (renamed to "
                            + r.spec.secret_name + ")");
        break;
      case msg::secret_status::foreign:
        event(self, "Warning", api::reason::secret_conflict,
              "Secret " + r.previous_secret
                + " (the previous spec.secretName) is not owned by this resource; left in place");
        break;
      case msg::secret_status::failed:
        // status.secretName still names it: the next reconcile tries again.
        finish(self, o.transient ? retry(api::reason::kubernetes_error, o.message)
                                 : refused(api::reason::kubernetes_error, o.message));
        return;
      default: break;
    }
    next();
  });
}

void after_secret(supervisor* self) {
  auto& r = *self->state.rc;
  if (r.connection && !r.connection->verified) {
    finish(self, retry(api::reason::login_failed,
                       "the generated credentials do not log in: " + r.connection->message));
    return;
  }
  rotate_if_due(self, success("role " + r.spec.username + " is ready; Secret "
                              + r.spec.secret_name + " holds working credentials"));
}

void step_write_secret(supervisor* self) {
  write_secret(self, [self](bool written) {
    auto& r = *self->state.rc;
    if (written)
      r.changes.push_back("wrote Secret " + r.spec.secret_name);
    r.secret_confirmed = true;
    remove_previous_secret(self, [self] { after_secret(self); });
  });
}

// --- 7: the database ------------------------------------------------------------------------

std::string claim_message(const msg::db_result& r, const std::string& role) {
  if (r.claim == msg::role_claim::unmanaged)
    return "role " + role
           + " already exists and is not managed by dbuser-operator; refusing to adopt it";
  return "role " + role + " is owned by PostgresUser " + r.claimed_by;
}

void on_converged(supervisor* self, msg::db_result& r) {
  auto& st = self->state;
  auto& rc = *st.rc;
  if (r.claim == msg::role_claim::unmanaged || r.claim == msg::role_claim::other_owner) {
    finish(self, refused(api::reason::role_conflict, claim_message(r, rc.spec.username)));
    return;
  }
  if (r.refusal) {
    finish(self, refused(api::reason::invalid_spec, *r.refusal));
    return;
  }
  for (auto& d : r.done)
    rc.changes.push_back(std::move(d));
  if (r.password_set || rc.new_password)
    rc.password_updated_at = rc.creds.updated_at;
  if (r.login) {
    st.last_login_check = steady_clock::now();
    api::connection_check c;
    c.verified = r.login->ok;
    c.last_check_time = now_text(self);
    c.latency_ms = static_cast<std::int64_t>(r.login->latency_ms);
    c.server_version = r.login->server_version;
    c.message = r.login->ok ? "logged in as " + rc.creds.login(rc.spec) : r.login->message;
    rc.connection = c;
  }
  if (r.failure) {
    finish(self, from_db(self, *r.failure));
    return;
  }
  if (r.password_set && !rc.new_password) // drift repaired: the role had another password
    rc.creds.updated_at = now_text(self), rc.password_updated_at = rc.creds.updated_at;
  // The previous credentials' overlap has ended: the converge disabled their role; the Secret
  // stops naming them.
  if (!rc.creds.previous.empty() && kept_logins(self).empty()) {
    const std::string role = rc.creds.previous;
    rc.creds.previous.clear();
    rc.creds.previous_until.clear();
    rc.changes.push_back("the previous credentials (role " + role + ") expired");
    event(self, "Normal", "PreviousCredentialsExpired",
          "the overlap of the previous credentials ended: role " + role
            + " no longer logs in; Secret " + rc.spec.secret_name + " holds the current ones");
  }
  step_write_secret(self);
}

// A supervisor that has not checked the login yet (the operator just started) takes the check
// its status records, when that check verified the credentials the Secret holds now (the same
// Secret version, role and spec generation; no new password, no rotation in flight): the
// periodic check comes due when it would have anyway, instead of one login per user at once
// after a restart. Anything else leaves the check due now.
void seed_login_check(supervisor* self) {
  auto& st = self->state;
  auto& rc = *st.rc;
  if (rc.new_password || rc.creds.pending || !rc.secret_seen)
    return;
  const auto version = rc.secret_seen->value("/metadata/resourceVersion"_json_pointer, "");
  const auto login = rc.spec.eng == api::engine::postgres ? rc.creds.login(rc.spec) : std::string();
  const auto at = api::verified_check_of(rc.object.value("status", json::object()),
                                         rc.meta.generation, login, version);
  if (!at)
    return;
  const auto age = duration_cast<milliseconds>(ctx(self).now() - *at);
  if (age < milliseconds(0) || age >= ctx(self).settings.login_check_period)
    return;
  st.last_login_check = steady_clock::now() - age;
}

void step_database(supervisor* self) {
  auto& st = self->state;
  auto& rc = *st.rc;
  msg::db_job job;
  job.kind = msg::db_job_kind::converge;
  describe_account(rc, job, {}, kept_logins(self));
  job.password = rc.creds.password;
  job.login_database = rc.spec.database;
  if (st.last_login_check == steady_clock::time_point{})
    seed_login_check(self);
  job.force_login_check = rc.new_password || st.last_login_check == steady_clock::time_point{}
                          || steady_clock::now() - st.last_login_check
                               > ctx(self).settings.login_check_period;
  self->request(rc.pool, caf::infinite, msg::job_atom::value, std::move(job))
    .then([self](msg::db_result& r) { on_converged(self, r); },
          [self](caf::error& err) {
            finish(self, retry(api::reason::database_unreachable,
                               "database pool: " + self->system().render(err)));
          });
}

// Resolves the pool for the target, then runs `next`.
void with_pool(supervisor* self, std::function<void()> next) {
  auto& rc = *self->state.rc;
  self->request(ctx(self).pools, seconds(30), msg::pool_atom::value, rc.target)
    .then(
      [self, next](caf::actor& pool) {
        self->state.rc->pool = std::move(pool);
        next();
      },
      [self](caf::error& err) {
        finish(self, retry(api::reason::database_unreachable,
                           "database pools: " + self->system().render(err)));
      });
}

// --- 6: the credentials Secret's password -------------------------------------------------

// A role name the Secret gives (username, previous-username) if it is one of this user's roles;
// "" otherwise (MySQL: always "", the account is spec.username).
std::string login_of(const api::user_spec& spec, const std::string& name) {
  if (spec.eng != api::engine::postgres || name.empty())
    return {};
  if (name == spec.username)
    return name;
  for (const auto& l : api::login_roles(spec.username))
    if (name == l)
      return name;
  return {};
}

// `secret`: the Secret of spec.secretName (null: absent). `carried`: when it is absent, the
// previous Secret of a rename, ours, whose credentials move to the new one.
void use_secret(supervisor* self, const json* secret, const json* carried = nullptr) {
  auto& rc = *self->state.rc;
  if (secret != nullptr && api::owner_of_secret(secret, rc.meta) == api::secret_owner::other) {
    finish(self, refused(api::reason::secret_conflict,
                         "Secret " + rc.spec.secret_name
                           + " exists and is not owned by this PostgresUser; refusing to overwrite it"));
    return;
  }
  rc.secret_exists = secret != nullptr;
  if (secret != nullptr)
    rc.secret_seen = *secret;
  std::optional<std::string> password;
  const json* source = secret != nullptr ? secret : carried;
  if (source != nullptr) {
    password = api::secret_value(*source, api::key_password);
    rc.rotation = api::rotation_state_of(*source);
    rc.creds.rotated_for = rc.rotation.rotated_for;
    rc.creds.pending = rc.rotation.pending;
    rc.creds.username = login_of(rc.spec, rc.rotation.username);
    rc.creds.previous = login_of(rc.spec, rc.rotation.previous);
    rc.creds.previous_until = rc.creds.previous.empty() ? "" : rc.rotation.previous_until;
    // Unknown age (a Secret written before this was recorded): count from now.
    rc.creds.updated_at = rc.rotation.updated_at ? api::rfc3339(*rc.rotation.updated_at)
                                                 : now_text(self);
  }
  if (password && !password->empty()) {
    rc.creds.password = *password;
  } else {
    auto generated = pg::generate_password(rc.policy);
    if (!generated) {
      finish(self, retry(api::reason::database_error, generated.error().to_string()));
      return;
    }
    rc.creds.password = std::move(*generated);
    rc.creds.pending.reset();
    rc.creds.updated_at = now_text(self);
    // A rotate annotation present when the password is first made needs no rotation.
    rc.creds.rotated_for = rc.meta.annotation(api::rotate_annotation);
    rc.creds.username = rc.spec.eng == api::engine::postgres ? api::rotation_target(rc.spec, "")
                                                              : std::string();
    rc.creds.previous.clear();
    rc.creds.previous_until.clear();
    rc.new_password = true;
  }
  with_pool(self, [self] {
    if (self->state.rc->creds.pending)
      resume_rotation(self, [self] { step_database(self); });
    else
      step_database(self);
  });
}

// Reads Secret `name` of the resource's namespace: from the informer's cache of our labelled
// Secrets, else (absent there, or someone else's) from the API server. `found` gets the Secret or
// null when it does not exist.
void get_secret(supervisor* self, const std::string& name,
                std::function<void(const json*)> found) {
  auto& rc = *self->state.rc;
  if (auto cached = ctx(self).secrets->get(rc.meta.ns + "/" + name)) {
    found(&*cached);
    return;
  }
  ctx(self).kube->get(k8s::object_ref{k8s::resource::secrets(), rc.meta.ns, name, ""},
                      then<json>(self, [self, found](expected<json, k8s::error> r) {
                        if (r)
                          found(&*r);
                        else if (r.error().code == k8s::error::kind::not_found)
                          found(nullptr);
                        else
                          finish(self, from_k8s(r.error(), "while reading a credentials Secret"));
                      }));
}

void step_credentials(supervisor* self) {
  auto& rc = *self->state.rc;
  get_secret(self, rc.spec.secret_name, [self](const json* secret) {
    auto& r = *self->state.rc;
    if (secret != nullptr || r.previous_secret.empty()) {
      use_secret(self, secret);
      return;
    }
    // Renamed and not written yet: the credentials move over from the previous Secret, if ours.
    get_secret(self, r.previous_secret, [self](const json* previous) {
      const bool ours = previous != nullptr
                        && api::owner_of_secret(previous, self->state.rc->meta)
                             == api::secret_owner::ours;
      use_secret(self, nullptr, ours ? previous : nullptr);
    });
  });
}

// --- 5: admin and CA Secrets ----------------------------------------------------------------

// Reads the admin or CA Secret: from the short-lived read cache, else from the API server.
void read_secret(supervisor* self, const std::string& name,
                 std::function<void(const json&)> found, const char* missing_reason) {
  auto& rc = *self->state.rc;
  const auto& cache = ctx(self).admin_secrets;
  const std::string key = rc.meta.ns + "/" + name;
  if (cache)
    if (auto hit = cache->get(key)) {
      found(*hit);
      return;
    }
  auto handler =
    then<json>(self, [self, name, found, missing_reason](expected<json, k8s::error> r) {
      if (r) {
        found(*r);
      } else if (r.error().code == k8s::error::kind::not_found) {
        // A deletion waits for it too: say how to let the resource go without it.
        const auto& rc2 = *self->state.rc;
        finish(self, retry(missing_reason,
                           "Secret " + rc2.meta.ns + "/" + name + " not found"
                             + (rc2.meta.deleting
                                  ? std::string("; the role cannot be dropped without it: restore "
                                                "it, or set spec.deletionPolicy: Retain to "
                                                "leave the role")
                                  : std::string())));
      } else {
        finish(self, from_k8s(r.error(), "while reading Secret " + name));
      }
    });
  const k8s::object_ref ref{k8s::resource::secrets(), rc.meta.ns, name, ""};
  if (!cache) {
    ctx(self).kube->get(ref, std::move(handler));
    return;
  }
  // One GET for every reconcile that misses this Secret at the same time.
  if (cache->begin_read(key, std::move(handler)))
    ctx(self).kube->get(ref, [cache, key](expected<json, k8s::error> r) { cache->end_read(key, r); });
}

// The spec names the admin itself (as the user or a membership): refused.
std::optional<std::string> admin_conflict(const api::user_spec& spec, const std::string& admin) {
  if (spec.eng == api::engine::mysql) {
    if (auto v = mysql::validate_user_name(spec.username, admin); !v)
      return "spec.username: " + v.error().message;
    return std::nullopt;
  }
  if (auto v = pg::validate_role_name(spec.username, admin); !v)
    return "spec.username: " + v.error().message;
  for (const auto& m : spec.member_of)
    if (auto v = pg::validate_role_name(m, admin); !v)
      return "spec.memberOf: " + v.error().message;
  return std::nullopt;
}

msg::db_target target_of(const api::user_spec& spec, const std::string& user,
                         const std::string& password, seconds connect_timeout) {
  msg::db_target t;
  if (spec.eng == api::engine::mysql) {
    t.engine = msg::db_engine::mysql;
    t.my.host = spec.host;
    t.my.port = spec.port;
    t.my.admin_user = user;
    t.my.admin_password = password;
    t.my.tls_mode = spec.ssl_mode;
    t.my.connect_timeout = connect_timeout;
  } else {
    t.pg.host = spec.host;
    t.pg.port = spec.port;
    t.pg.admin_user = user;
    t.pg.admin_password = password;
    t.pg.ssl_mode = spec.ssl_mode;
    t.pg.connect_timeout = connect_timeout;
  }
  return t;
}

void step_admin(supervisor* self, std::function<void()> next) {
  auto& rc = *self->state.rc;
  read_secret(
    self, rc.spec.admin.name,
    [self, next](const json& secret) {
      auto& r = *self->state.rc;
      auto user = api::secret_value(secret, r.spec.admin.username_key);
      auto password = api::secret_value(secret, r.spec.admin.password_key);
      if (!user || user->empty() || !password || password->empty()) {
        finish(self, retry(api::reason::admin_secret_invalid,
                           "Secret " + r.spec.admin.name + " lacks the keys "
                             + r.spec.admin.username_key + " and " + r.spec.admin.password_key));
        return;
      }
      if (auto why = admin_conflict(r.spec, *user)) {
        finish(self, refused(api::reason::invalid_spec, *why));
        return;
      }
      r.target = target_of(r.spec, *user, *password, ctx(self).settings.connect_timeout);
      if (!r.spec.ca_secret_ref) {
        next();
        return;
      }
      read_secret(
        self, r.spec.ca_secret_ref->name,
        [self, next](const json& ca) {
          auto& r2 = *self->state.rc;
          auto pem = api::secret_value(ca, r2.spec.ca_secret_ref->key);
          if (!pem || pem->empty()) {
            finish(self, retry(api::reason::ca_secret_not_found,
                               "Secret " + r2.spec.ca_secret_ref->name + " has no key "
                                 + r2.spec.ca_secret_ref->key));
            return;
          }
          r2.target.pg.ca_pem = *pem;
          r2.target.my.ca_pem = *pem;
          next();
        },
        api::reason::ca_secret_not_found);
    },
    api::reason::admin_secret_not_found);
}

// --- 3: deletion ----------------------------------------------------------------------------

void remove_finalizer(supervisor* self) {
  auto& rc = *self->state.rc;
  const auto& f = rc.meta.finalizers;
  auto i = std::find(f.begin(), f.end(), api::finalizer);
  if (i == f.end()) {
    done_running(self);
    return;
  }
  const std::string path = "/metadata/finalizers/" + std::to_string(i - f.begin());
  json patch = json::array({{{"op", "test"}, {"path", path}, {"value", api::finalizer}},
                            {{"op", "remove"}, {"path", path}}});
  ctx(self).kube->patch(user_ref(self), k8s::patch_type::json, patch,
                        then<json>(self, [self](expected<json, k8s::error> r) {
                          if (!r && r.error().code != k8s::error::kind::not_found) {
                            finish(self, from_k8s(r.error(), "while removing the finalizer"));
                            return;
                          }
                          spdlog::info("{}: finalized", self->state.key);
                          report(self, "Deleted", milliseconds(0), false, 0, false);
                          done_running(self); // the delete event ends this supervisor
                        }));
}

// Deletes Secrets names[i...] (each only if ours), then removes the finalizer.
void erase_then_finalize(supervisor* self, std::vector<std::string> names, std::size_t i) {
  if (i == names.size()) {
    remove_finalizer(self);
    return;
  }
  const std::string name = names[i];
  erase_secret(self, name, [self, names = std::move(names), i](msg::secret_outcome& o) {
    if (o.status == msg::secret_status::failed) {
      finish(self, o.transient ? retry(api::reason::deleting, o.message)
                               : refused(api::reason::deleting, o.message));
      return;
    }
    erase_then_finalize(self, names, i + 1);
  });
}

// Deletes the Secret of a rename not finished yet, then the current one, then the finalizer.
void delete_secret(supervisor* self) {
  auto& rc = *self->state.rc;
  if (!rc.spec_valid || rc.spec.secret_name.empty()) {
    remove_finalizer(self);
    return;
  }
  std::vector<std::string> names = {rc.spec.secret_name};
  if (!rc.previous_secret.empty())
    names.insert(names.begin(), rc.previous_secret);
  erase_then_finalize(self, std::move(names), 0);
}

void step_delete(supervisor* self) {
  auto& rc = *self->state.rc;
  report(self, "Deleting");
  if (!rc.spec_valid || rc.spec.deletion == api::deletion_policy::retain) {
    delete_secret(self);
    return;
  }
  if (!rc.refusal_by_policy.empty()) {
    // As with a missing admin Secret: the finalizer stays, and the message says how to let go.
    finish(self, refused(api::reason::target_not_allowed,
                         rc.refusal_by_policy + "; the role cannot be dropped without connecting: "
                         "allow the target, or set spec.deletionPolicy: Retain to leave the role"));
    return;
  }
  step_admin(self, [self] {
    with_pool(self, [self] {
      auto& r = *self->state.rc;
      msg::db_job job;
      job.kind = msg::db_job_kind::remove;
      describe_account(r, job);
      // Every role of the user goes, whatever the strategy and the state of a rotation.
      job.desired.logins.clear();
      if (r.spec.eng == api::engine::postgres)
        for (const auto& l : api::login_roles(r.spec.username))
          job.desired.logins.push_back(pg::login_role{l, pg::login_mode::disabled});
      self->request(r.pool, caf::infinite, msg::job_atom::value, std::move(job))
        .then(
          [self](msg::db_result& res) {
            if (res.failure) {
              // Deletion waits on this: the condition says why, and how to let it go.
              auto o = from_db(self, *res.failure);
              if (o.reason != api::reason::insufficient_privilege)
                o.reason = api::reason::deleting;
              o.message = "cannot drop role " + self->state.rc->spec.username + ": " + o.message;
              finish(self, o);
              return;
            }
            auto& r2 = *self->state.rc;
            if (res.claim == msg::role_claim::ours)
              event(self, "Normal", "RoleDropped",
                    res.done.empty() ? "dropped role " + r2.spec.username : summary(res.done));
            else if (res.claim != msg::role_claim::absent)
              event(self, "Warning", api::reason::role_conflict,
                    claim_message(res, r2.spec.username) + "; not dropping it");
            delete_secret(self);
          },
          [self](caf::error& err) {
            finish(self, retry(api::reason::deleting,
                               "database pool: " + self->system().render(err)));
          });
    });
  });
}

// --- 1-4: fetch, validate, finalizer -------------------------------------------------------

void step_finalizer(supervisor* self) {
  auto& rc = *self->state.rc;
  if (rc.meta.has_finalizer(api::finalizer)) {
    step_admin(self, [self] { step_credentials(self); });
    return;
  }
  json patch = json::array();
  patch.push_back({{"op", "test"}, {"path", "/metadata/resourceVersion"},
                   {"value", rc.meta.resource_version}});
  if (rc.object.contains("/metadata/finalizers"_json_pointer))
    patch.push_back({{"op", "add"}, {"path", "/metadata/finalizers/-"}, {"value", api::finalizer}});
  else
    patch.push_back({{"op", "add"}, {"path", "/metadata/finalizers"},
                     {"value", json::array({api::finalizer})}});
  ctx(self).kube->patch(user_ref(self), k8s::patch_type::json, patch,
                        then<json>(self, [self](expected<json, k8s::error> r) {
                          if (!r) {
                            // A failed `test` of the resourceVersion (422) means the object moved
                            // on since it was read: read it again soon.
                            auto o = from_k8s(r.error(), "while adding the finalizer");
                            if (r.error().code == k8s::error::kind::invalid)
                              o.what = outcome::kind::retry;
                            finish(self, o);
                            return;
                          }
                          auto& r2 = *self->state.rc;
                          r2.object = std::move(*r);
                          r2.meta = api::parse_meta(r2.object);
                          step_admin(self, [self] { step_credentials(self); });
                        }));
}

// Gone (deleted and finalized): nothing left to do for this resource.
void stop_for_good(supervisor* self) {
  report(self, "Stopped", milliseconds(0), false, 0, true);
  self->quit();
}

// The database target a reconcile of `object` will talk to, as the manager's slot bucket:
// "engine://host:port" from the spec as it stands ("" when it names none).
std::string slot_bucket(const json& object, api::engine engine) {
  auto spec = object.find("spec");
  if (spec == object.end() || !spec->is_object())
    return "";
  auto host = spec->find("host");
  if (host == spec->end() || !host->is_string())
    return "";
  auto port = spec->find("port");
  const int p = port != spec->end() && port->is_number_integer()
                  ? port->get<int>()
                  : (engine == api::engine::mysql ? 3306 : 5432);
  return api::target_policy::describe({"", engine, host->get<std::string>(), p});
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
  if (!resync && st.settled
      && *st.settled
           == state_hash(*object, ctx(self).secrets->get(st.settled_secret),
                         policy_refusal(self, *object)))
    return;
  st.running = true;
  self->send(st.manager, msg::acquire_atom::value, slot_bucket(*object, ctx(self).engine));
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
  if (rc.meta.deleting) {
    if (!rc.meta.has_finalizer(api::finalizer)) {
      done_running(self);
      return;
    }
    step_delete(self);
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
  if (!rc.spec_valid) {
    finish(self, refused(api::reason::invalid_spec, rc.spec_error));
    return;
  }
  if (!rc.refusal_by_policy.empty()) {
    // Before the finalizer, the admin Secret and the pool: nothing touches the target. A user
    // refused from the start carries no finalizer, so deleting it needs nothing.
    rc.secret_seen = ctx(self).secrets->get(rc.meta.ns + "/" + rc.spec.secret_name);
    finish(self, refused(api::reason::target_not_allowed,
                         rc.refusal_by_policy
                           + "; the operator does not connect to it and changes nothing there "
                             "(no role is dropped) until a DatabaseTargetPolicy allows it"));
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
