#pragma once

// Catch2 assertions over an e2e_env that explain themselves when they fail: the resource's status
// and the tail of the operator's log.

#include "test/e2e/support/e2e_env.hpp"

#include <catch2/catch.hpp>
#include <chrono>

// The Ready condition of PostgresUser `name` reaches `status` (and `reason`) within `deadline`.
#define REQUIRE_CONDITION(env, name, deadline, status, reason)                                    \
  do {                                                                                            \
    if (!(env).wait_ready((name), (deadline), (status), (reason)))                                \
      FAIL("PostgresUser " << (name) << " did not reach Ready=" << (status) << " " << (reason)   \
                           << " in time\n"                                                        \
                           << (env).describe(name));                                             \
  } while (false)

#define REQUIRE_READY(env, name, deadline) REQUIRE_CONDITION(env, name, deadline, "True", "Reconciled")

// No password or verifier the test saw appears in the operator's log.
#define CHECK_NO_SECRETS_IN_LOG(env)                                                              \
  do {                                                                                            \
    const auto leaked_ = (env).secrets_in_log();                                                  \
    INFO("operator log: " << ((env).op ? (env).op->log_path() : std::string("(none)")));          \
    CHECK(leaked_.empty());                                                                       \
    for (const auto& l : leaked_)                                                                 \
      UNSCOPED_INFO("found in the log: " << l);                                                   \
  } while (false)
