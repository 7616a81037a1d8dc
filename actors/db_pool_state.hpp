#pragma once

// Internals of the database pool, shared by its translation units (db_pool.cpp: the queue, the
// dispatch and the pool actor, with the flow of the target's health; db_pool_breaker.cpp: the
// target going down and coming back; db_pool_probe.cpp: probing a target; db_connection.cpp: the
// job flows and the connection actors; db_pool_registry.cpp: one pool per target). Not a public
// interface: included by these files only.

#include "actors/db_pool.hpp"
#include "common/socket_cutter.hpp"
#include "messages/db.hpp"

#include <caf/all.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace dbuser::actors::pooling {

using namespace std::chrono;
using msg::db_job;
using msg::db_result;

// --- db_connection (db_connection.cpp) ------------------------------------------------------

using any_executor = std::variant<std::monostate, pg::executor, mysql::executor>;

struct connection_state {
  any_executor executor;
  static inline const char* name = "db_connection";
};

// (job_atom, db_job) → db_result: runs one job on the target's executor, made on first use.
caf::behavior db_connection(caf::stateful_actor<connection_state>* self, msg::db_target target,
                            std::shared_ptr<socket_cutter> cutter);
// (probe_atom) → db_probe_result: does the target answer? A one-shot actor.
caf::behavior db_probe(caf::stateful_actor<connection_state>* self, msg::db_target target,
                       std::shared_ptr<socket_cutter> cutter);

// A result that carries only `e`.
db_result failed(msg::db_error e);

// --- db_pool ----------------------------------------------------------------------------------

struct pending_job {
  db_job job;
  caf::actor requester;
  caf::typed_response_promise<db_result> promise;
};

struct slot {
  caf::actor conn;
  std::shared_ptr<socket_cutter> cutter;
  bool busy = false;
  bool retire = false; // the target went down while it ran: close it when its job ends
  std::uint64_t job = 0;
  steady_clock::time_point last_used;
};

struct target_health {
  bool up = true;
  system_clock::time_point down_since{};
  std::string down_message; // what a job failed fast is told: stable for the whole outage
  msg::db_error last_error;
  int probe_attempts = 0;
  bool probing = false;
  system_clock::time_point next_probe{};
  std::map<caf::actor_addr, caf::actor> parked; // senders of jobs failed fast: woken when back
  std::map<std::string, std::uint64_t> failures; // by kind, for /metrics
  steady_clock::time_point last_asked{};         // the last job sent to this pool
  bool probes_paused = false;                    // down, and nobody asked for probe_idle_limit
};

struct pool_state {
  msg::db_target target;
  pool_options opts;
  pool_stats_sink sink;
  std::vector<slot> slots;
  std::deque<pending_job> queue;
  target_health health;
  std::uint64_t restarts = 0;
  std::uint64_t jobs = 0;
  std::uint64_t job_numbers = 0;
  std::minstd_rand rng{std::random_device{}()};
  static inline const char* name = "db_pool";
};

using pool_actor = caf::stateful_actor<pool_state>;

// db_pool.cpp: the queue and its dispatch.
void report(pool_actor* self);
std::vector<slot>::iterator close_slot(pool_actor* self, std::vector<slot>::iterator i);
void dispatch(pool_actor* self);
caf::behavior db_pool(pool_actor* self, msg::db_target target, pool_options opts,
                      pool_stats_sink sink);

// db_pool_breaker.cpp: the target's health (steps 2 and 4 of the flow in db_pool.cpp).
void fail_fast(pool_actor* self, pending_job& p);
void target_failed(pool_actor* self, const msg::db_error& e, const std::string& kind);
void target_back(pool_actor* self);
void judge(pool_actor* self, const db_result& r, const caf::actor& requester);

// db_pool_probe.cpp: probing the target (step 3 of the flow, and liveness).
void schedule_probe(pool_actor* self);
void start_probe(pool_actor* self);

} // namespace dbuser::actors::pooling
