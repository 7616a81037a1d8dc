// The pool's circuit breaker: its target going down and coming back (the flow is in db_pool.cpp).

#include "actors/db_pool_state.hpp"

#include "messages/reconcile.hpp"

#include <caf/all.hpp>
#include <ctime>
#include <spdlog/spdlog.h>

namespace dbuser::actors::pooling {

namespace {

std::string utc_text(system_clock::time_point t) {
  const std::time_t tt = system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The target, not the request, failed: it cannot be reached, or will not let the admin in.
bool is_target_failure(const msg::db_error& e) {
  return !e.target_down
         && (e.what == msg::db_error::kind::unavailable || e.what == msg::db_error::kind::auth);
}

msg::db_error down_error(const pool_state& st) {
  msg::db_error e = st.health.last_error;
  e.message = st.health.down_message;
  e.target_down = true;
  e.down_since = utc_text(st.health.down_since);
  return e;
}

} // namespace

void fail_fast(pool_actor* self, pending_job& p) {
  auto& h = self->state.health;
  if (p.requester)
    h.parked.emplace(p.requester.address(), p.requester);
  p.promise.deliver(failed(down_error(self->state)));
}

// Step 2 of the flow.
void target_failed(pool_actor* self, const msg::db_error& e, const std::string& kind) {
  auto& st = self->state;
  auto& h = st.health;
  ++h.failures[kind];
  if (!h.up)
    return;
  h.up = false;
  h.down_since = system_clock::now();
  h.last_error = e;
  h.down_message = "database target " + st.target.label() + " is unreachable since "
                   + utc_text(h.down_since) + ": " + e.message;
  h.probe_attempts = 0;
  spdlog::warn("database target {} is down ({}): {}; its jobs fail fast until a probe gets an "
               "answer", st.target.label(), kind, e.message);
  while (!st.queue.empty()) {
    auto p = std::move(st.queue.front());
    st.queue.pop_front();
    fail_fast(self, p);
  }
  for (auto i = st.slots.begin(); i != st.slots.end();) {
    if (i->busy) {
      i->retire = true;
      ++i;
    } else {
      i = close_slot(self, i);
    }
  }
  if (!h.probing)
    schedule_probe(self);
  report(self);
}

// Step 4 of the flow.
void target_back(pool_actor* self) {
  auto& st = self->state;
  auto& h = st.health;
  if (h.up)
    return;
  h.up = true;
  h.probe_attempts = 0;
  const auto down_for = duration_cast<seconds>(system_clock::now() - h.down_since).count();
  spdlog::info("database target {} answers again after {} s; reconciling the {} users that "
               "waited for it", st.target.label(), down_for, h.parked.size());
  const auto n = static_cast<std::int64_t>(std::max<std::size_t>(1, h.parked.size()));
  const milliseconds step = std::min(st.opts.wake_spread, milliseconds(20000) / n);
  std::size_t i = 0;
  for (auto& [addr, who] : h.parked)
    self->delayed_send(who, step * static_cast<int>(i++), msg::reconcile_atom::value);
  h.parked.clear();
  dispatch(self);
}

// The outcome of a job says something about the target, too. A job that found the target down
// parks its sender like a job failed fast: it is woken when the target is back.
void judge(pool_actor* self, const db_result& r, const caf::actor& requester) {
  if (r.failure && is_target_failure(*r.failure)) {
    target_failed(self, *r.failure, std::string(to_string(r.failure->what)));
    if (requester && !self->state.health.up)
      self->state.health.parked.emplace(requester.address(), requester);
  } else if (!self->state.health.up) {
    target_back(self); // it answered this job
  }
}

} // namespace dbuser::actors::pooling
