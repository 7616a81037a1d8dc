// The pool's probe of its target: with backoff while it is down, at once when a job stalls (the
// flow is in db_pool.cpp).

#include "actors/db_pool_state.hpp"

#include <caf/all.hpp>
#include <cmath>
#include <random>

namespace dbuser::actors::pooling {

void schedule_probe(pool_actor* self) {
  auto& st = self->state;
  auto& h = st.health;
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  const double base = static_cast<double>(st.opts.probe_backoff_min.count())
                      * std::pow(2.0, std::min(h.probe_attempts, 16));
  const auto delay = milliseconds(static_cast<std::int64_t>(
    std::min(base, static_cast<double>(st.opts.probe_backoff_max.count())) * jitter(st.rng)));
  h.next_probe = system_clock::now() + delay;
  self->delayed_send(self, delay, msg::probe_atom::value);
}

namespace {

void probe_failed(pool_actor* self, const msg::db_error& e) {
  auto& st = self->state;
  ++st.health.probe_attempts;
  if (st.health.up) {
    // A liveness probe while a job seemed stuck: the target does not answer. Its busy
    // connections wait on a dead peer: cut them.
    target_failed(self, e, "unresponsive");
    for (auto& sl : st.slots)
      if (sl.busy)
        sl.cutter->cut();
    return;
  }
  ++st.health.failures[std::string(to_string(e.what))];
  schedule_probe(self);
  report(self);
}

} // namespace

void start_probe(pool_actor* self) {
  auto& st = self->state;
  if (st.health.probing)
    return;
  st.health.probing = true;
  auto target = st.target;
  target.pg.connect_timeout = st.opts.probe_timeout;
  target.my.connect_timeout = st.opts.probe_timeout;
  auto cutter = std::make_shared<socket_cutter>();
  auto probe = self->spawn<caf::detached>(db_probe, std::move(target), cutter);
  self->request(probe, st.opts.probe_timeout + seconds(2), msg::probe_atom::value)
    .then(
      [=](msg::db_probe_result& r) {
        self->send_exit(probe, caf::exit_reason::user_shutdown);
        self->state.health.probing = false;
        if (r.failure)
          probe_failed(self, *r.failure);
        else
          target_back(self);
      },
      [=](caf::error&) {
        cutter->cut(); // it may still wait on the target: let it go
        self->send_exit(probe, caf::exit_reason::user_shutdown);
        self->state.health.probing = false;
        msg::db_error e;
        e.what = msg::db_error::kind::unavailable;
        e.transient = true;
        e.message = "no answer within " + std::to_string(self->state.opts.probe_timeout.count())
                    + " s";
        probe_failed(self, e);
      });
}

} // namespace dbuser::actors::pooling
