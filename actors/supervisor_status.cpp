// Steps 9-10 of user_supervisor.hpp's flow: how a reconcile ends. The status, the Events, the
// supervisor's report (for /metrics and the debug page) and the next wake-up (resync, backoff,
// rotation).

#include "actors/supervisor_internal.hpp"
#include "k8s/events.hpp"
#include "messages/db.hpp"

#include <caf/all.hpp>
#include <random>
#include <spdlog/spdlog.h>

namespace dbuser::actors::supervision {

// --- 9/10: status, events, next wake-up ---------------------------------------------------

void report(supervisor* self, const std::string& phase, milliseconds next, bool ready,
            double duration, bool deleted) {
  auto& st = self->state;
  if (!ctx(self).report)
    return;
  supervisor_report r;
  r.kind = ctx(self).kind;
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
  r.claimed_by = st.left_to;
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
    if (o.min_delay) // the API server's Retry-After, plus up to 11 % so retries do not align
      next = std::max(next, *o.min_delay + spread(*o.min_delay, draw(st.rng)) / 10);
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
  const auto fingerprint = api::status_fingerprint(next_status);
  if (api::same_status(current, next_status)
      && (!st.written_status || *st.written_status == fingerprint)) {
    done_running(self);
    return;
  }
  ctx(self).kube->patch(user_ref(self, "status"), k8s::patch_type::merge,
                        json{{"status", next_status}},
                        then<json>(self, [self, fingerprint](expected<json, k8s::error> r2) {
                          if (r2)
                            self->state.written_status = fingerprint;
                          else
                            self->state.written_status.reset();
                          if (!r2 && r2.error().code != k8s::error::kind::not_found)
                            spdlog::warn("{}: status update failed: {}", self->state.key,
                                         r2.error().to_string());
                          done_running(self);
                        }));
}

} // namespace dbuser::actors::supervision
