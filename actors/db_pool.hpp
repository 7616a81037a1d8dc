#pragma once

// Database actors.
//
//   pool registry ── one db_pool per PostgreSQL target (host, port, admin credentials, TLS)
//   db_pool       ── a bounded set of db_connection actors; queues jobs when all are busy; a
//                    connection actor that dies is replaced (counted in `restarts`); connections
//                    idle for `idle_timeout` are closed. Tracks its target's health: a target
//                    that is down fails jobs fast and is probed with backoff (the flow is in
//                    db_pool.cpp)
//   db_connection ── detached (libpqxx blocks): owns one pg::executor and runs one job at a time
//
// Supervisors talk to the registry once per target and then to the pool; they never see a
// connection actor.

#include "messages/db.hpp"
#include "pg/scram.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace dbuser::actors {

struct pool_options {
  std::size_t size = 4;
  int scram_iterations = pg::scram_iterations; // of the verifiers made (--scram-iterations)
  pg::credential_proof verify_credentials = pg::credential_proof::automatic; // --verify-credentials
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds job_timeout{120};  // a job is cut short after this, whatever happens
  std::chrono::seconds stall_after{2};    // a job running this long: is the target answering?
  std::chrono::seconds probe_timeout{3};  // a probe's connect timeout (its deadline: + 2 s)
  std::chrono::milliseconds probe_backoff_min{1000};
  std::chrono::milliseconds probe_backoff_max{5000}; // a restored target is seen within ~6 s
  std::chrono::milliseconds wake_spread{50}; // between two users woken when a target is back
  // A down target nobody has asked for this long is no longer probed (a pool whose admin
  // password was replaced would otherwise try the old one every few seconds for ever); the next
  // job resumes probing.
  std::chrono::minutes probe_idle_limit{10};
};

// What a pool reports about itself (for /debug/actors and /metrics).
struct pool_stats {
  std::string target; // host:port/user
  std::size_t size = 0, busy = 0, waiting = 0;
  std::uint64_t restarts = 0, jobs = 0;
  bool up = true;                   // the target's health
  std::int64_t down_since_unix = 0; // while down
  std::int64_t next_probe_unix = 0; // while down
  std::string last_error;           // while down: what made it so
  std::size_t parked = 0;           // users whose jobs failed fast, woken when it is back
  std::map<std::string, std::uint64_t> failures; // target failures by kind
};
using pool_stats_sink = std::function<void(const pool_stats&)>;

// (pool_atom, db_target) → caf::actor
[[nodiscard]] caf::actor spawn_pool_registry(caf::actor_system& sys, pool_options opts,
                                             pool_stats_sink sink = {});

} // namespace dbuser::actors
