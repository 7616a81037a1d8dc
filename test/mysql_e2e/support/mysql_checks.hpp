#pragma once

// Catch2 assertions over a mysql_env that explain themselves when they fail: the MySQLUser's
// status and the tail of the operator's log. CHECK_NO_SECRETS_IN_LOG(env.base) comes from the e2e
// harness.

#include "test/e2e/support/checks.hpp"
#include "test/mysql_e2e/support/mysql_env.hpp"

#include <catch2/catch.hpp>

// The Ready condition of MySQLUser `name` reaches `status` (and `reason`) within `deadline`.
#define REQUIRE_MYSQL_CONDITION(env, name, deadline, status, reason)                              \
  REQUIRE_KIND_CONDITION("MySQLUser", env, name, deadline, status, reason)

#define REQUIRE_MYSQL_READY(env, name, deadline)                                                  \
  REQUIRE_MYSQL_CONDITION(env, name, deadline, "True", "Reconciled")
