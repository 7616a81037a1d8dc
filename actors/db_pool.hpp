#pragma once

// Database actors.
//
//   pool registry ── one db_pool per PostgreSQL target (host, port, admin credentials, TLS)
//   db_pool       ── a bounded set of db_connection actors; queues jobs when all are busy; a
//                    connection actor that dies is replaced (counted in `restarts`); connections
//                    idle for `idle_timeout` are closed
//   db_connection ── detached (libpqxx blocks): owns one pg::executor and runs one job at a time
//
// Supervisors talk to the registry once per target and then to the pool; they never see a
// connection actor.

#include "messages/db.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace dbuser::actors {

struct pool_options {
  std::size_t size = 4;
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds job_timeout{120};
};

// What a pool reports about itself (for /debug/actors and /metrics).
struct pool_stats {
  std::string target; // host:port/user
  std::size_t size = 0, busy = 0, waiting = 0;
  std::uint64_t restarts = 0, jobs = 0;
};
using pool_stats_sink = std::function<void(const pool_stats&)>;

// (pool_atom, db_target) → caf::actor
[[nodiscard]] caf::actor spawn_pool_registry(caf::actor_system& sys, pool_options opts,
                                             pool_stats_sink sink = {});

} // namespace dbuser::actors
