// The pool: its queue, the dispatch of jobs to connection actors, and the actor itself.

#include "actors/db_pool.hpp"

#include "actors/db_pool_state.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace dbuser::actors::pooling {

// --- db_pool ----------------------------------------------------------------------------------
//
// Health of the target (the circuit breaker). Expected flow:
//   1. Up: jobs are queued and run on at most `size` connections.
//   2. A job fails in a way that says the target, not the request, is the problem (cannot
//      connect, connection broken, the admin's authentication or TLS refused: kinds unavailable
//      and auth), or a liveness probe gets no answer: the target is down. One log line. Every
//      queued job fails at once with that error (target_down), so is every new one, and their
//      senders are remembered; idle connections are closed (they may be dead), busy ones are
//      retired when their job ends.
//   3. While down, one probe at a time (a fresh connection with `probe_timeout`, SELECT 1), with
//      exponential backoff and jitter from `probe_backoff_min` to `probe_backoff_max`; paused when
//      no job has come for `probe_idle_limit`, resumed by the next one.
//   4. A probe answers (or any job succeeds): up again. One log line. The remembered senders
//      (user supervisors) are woken, spread `wake_spread` apart (at most 20 s in all), and
//      reconcile as usual.
// Liveness: a job still running after `stall_after` makes the pool probe the target (again every
// `stall_after` while it runs). No answer within `probe_timeout`: the target is down and the
// sockets of every busy connection are cut (socket_cutter), so their jobs fail at once and the
// server rolls their transactions back. A job that overruns `job_timeout` (a target that answers
// probes but not this job) is cut and failed; its connection actor is replaced.
// Guarantees: a job never waits longer than about stall_after + probe_timeout for a dead target
// and never longer than job_timeout in all; while the target is down no connection is attempted
// except the probe's; waiting for this target holds nothing that another target's pool needs.

namespace {

std::int64_t unix_seconds(system_clock::time_point t) {
  return t == system_clock::time_point{} ? 0 : duration_cast<seconds>(t.time_since_epoch()).count();
}

} // namespace

void report(pool_actor* self) {
  auto& st = self->state;
  if (!st.sink)
    return;
  pool_stats s;
  s.target = st.target.label();
  s.size = st.slots.size();
  for (auto& sl : st.slots)
    s.busy += sl.busy ? 1 : 0;
  s.waiting = st.queue.size();
  s.restarts = st.restarts;
  s.jobs = st.jobs;
  const auto& h = st.health;
  s.up = h.up;
  s.down_since_unix = h.up ? 0 : unix_seconds(h.down_since);
  s.next_probe_unix = h.up ? 0 : unix_seconds(h.next_probe);
  s.last_error = h.up ? "" : h.last_error.message;
  s.parked = h.parked.size();
  s.failures = h.failures;
  st.sink(s);
}

std::vector<slot>::iterator close_slot(pool_actor* self, std::vector<slot>::iterator i) {
  self->send_exit(i->conn, caf::exit_reason::user_shutdown);
  return self->state.slots.erase(i);
}

namespace {

std::vector<slot>::iterator find_slot(pool_actor* self, const caf::actor_addr& addr) {
  auto& slots = self->state.slots;
  return std::find_if(slots.begin(), slots.end(),
                      [&](const slot& s) { return s.conn.address() == addr; });
}

void finish(pool_actor* self, const caf::actor& conn) {
  if (auto i = find_slot(self, conn.address()); i != self->state.slots.end()) {
    if (i->retire) {
      close_slot(self, i);
    } else {
      i->busy = false;
      i->last_used = steady_clock::now();
    }
  }
  ++self->state.jobs;
  dispatch(self);
}

} // namespace

void dispatch(pool_actor* self) {
  auto& st = self->state;
  while (!st.queue.empty() && st.health.up) {
    auto free = std::find_if(st.slots.begin(), st.slots.end(),
                             [](const slot& s) { return !s.busy; });
    if (free == st.slots.end() && st.slots.size() < st.opts.size) {
      auto cutter = std::make_shared<socket_cutter>();
      auto conn = self->spawn<caf::detached + caf::monitored>(db_connection, st.target, cutter);
      st.slots.push_back(slot{conn, cutter, false, false, 0, steady_clock::now()});
      free = st.slots.end() - 1;
    }
    if (free == st.slots.end())
      break;
    free->busy = true;
    free->job = ++st.job_numbers;
    free->cutter->arm();
    auto conn = free->conn;
    auto number = free->job;
    auto p = std::move(st.queue.front());
    st.queue.pop_front();
    auto promise = p.promise;
    auto requester = p.requester;
    self->delayed_send(self, st.opts.stall_after, msg::stall_atom::value, number);
    self->request(conn, st.opts.job_timeout, msg::job_atom::value, std::move(p.job))
      .then(
        [=](db_result& r) mutable {
          judge(self, r, requester);
          promise.deliver(std::move(r));
          finish(self, conn);
        },
        [=](caf::error& err) mutable {
          msg::db_error e;
          e.what = msg::db_error::kind::unavailable;
          e.transient = true;
          if (err == caf::sec::request_timeout) {
            // Answers probes but not this job: cut it; its actor is replaced.
            e.message = "the job did not finish within "
                        + std::to_string(self->state.opts.job_timeout.count())
                        + " s and was cut short";
            if (auto i = find_slot(self, conn.address()); i != self->state.slots.end()) {
              i->cutter->cut();
              close_slot(self, i);
              ++self->state.restarts;
            }
          } else {
            e.message = "database connection actor failed: " + self->system().render(err);
          }
          promise.deliver(failed(std::move(e)));
          finish(self, conn);
        });
  }
  report(self);
}

caf::behavior db_pool(pool_actor* self, msg::db_target target, pool_options opts,
                      pool_stats_sink sink) {
  self->state.target = std::move(target);
  self->state.opts = opts;
  self->state.sink = std::move(sink);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto i = find_slot(self, dm.source);
    if (i == self->state.slots.end())
      return;
    self->state.slots.erase(i);
    if (dm.reason && dm.reason != caf::exit_reason::user_shutdown) {
      ++self->state.restarts; // replaced on demand by dispatch()
      spdlog::warn("db pool {}: a connection actor died ({}); replacing it",
                   self->state.target.label(), self->system().render(dm.reason));
    }
    dispatch(self);
  });
  self->set_exit_handler([=](caf::exit_msg& em) {
    // Shutdown: the connection actors go with the pool (they are monitored, not linked).
    for (auto& sl : self->state.slots) {
      sl.cutter->cut(); // a job blocked on a dead target must not hold the process
      self->send_exit(sl.conn, em.reason);
    }
    self->quit(em.reason);
  });
  self->delayed_send(self, seconds(10), msg::idle_atom::value);
  return {
    [=](msg::job_atom, db_job& job) -> caf::result<db_result> {
      // Before make_response_promise(): it moves the sender out of the current message.
      auto requester = caf::actor_cast<caf::actor>(self->current_sender());
      auto promise = self->make_response_promise<db_result>();
      job.desired.scram_iterations = self->state.opts.scram_iterations;
      job.verify = self->state.opts.verify_credentials;
      pending_job p{std::move(job), std::move(requester), promise};
      auto& h = self->state.health;
      h.last_asked = steady_clock::now();
      if (!h.up) {
        if (h.probes_paused) {
          h.probes_paused = false;
          start_probe(self);
        }
        fail_fast(self, p);
        report(self);
        return promise;
      }
      self->state.queue.push_back(std::move(p));
      dispatch(self);
      return promise;
    },
    [=](msg::stall_atom, std::uint64_t number) {
      auto& st = self->state;
      auto i = std::find_if(st.slots.begin(), st.slots.end(),
                            [&](const slot& s) { return s.busy && s.job == number; });
      if (i == st.slots.end())
        return; // it ended
      if (!st.health.up)
        i->cutter->cut(); // known dead: do not wait for it
      else
        start_probe(self);
      self->delayed_send(self, st.opts.stall_after, msg::stall_atom::value, number);
    },
    [=](msg::probe_atom) {
      auto& h = self->state.health;
      if (h.up)
        return;
      if (steady_clock::now() - h.last_asked > self->state.opts.probe_idle_limit) {
        h.probes_paused = true; // the next job resumes them
        h.next_probe = {};
        report(self);
        return;
      }
      start_probe(self);
    },
    [=](msg::idle_atom) {
      auto now = steady_clock::now();
      auto& slots = self->state.slots;
      for (auto i = slots.begin(); i != slots.end();)
        i = !i->busy && now - i->last_used > self->state.opts.idle_timeout ? close_slot(self, i)
                                                                           : i + 1;
      report(self);
      self->delayed_send(self, seconds(10), msg::idle_atom::value);
    },
  };
}

} // namespace dbuser::actors::pooling
