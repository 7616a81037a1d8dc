#pragma once

// Catch2 assertions over an e2e_env that explain themselves when they fail: the resource's status
// and the tail of the operator's log.

#include "test/e2e/support/e2e_env.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

// The Ready condition of `label` (a kind: "MySQLUser") `name` reaches `status` (and `reason`)
// within `deadline`; `env` has wait_ready and describe for that kind.
#define REQUIRE_KIND_CONDITION(label, env, name, deadline, status, reason)                        \
  do {                                                                                            \
    if (!(env).wait_ready((name), (deadline), (status), (reason)))                                \
      FAIL(label << " " << (name) << " did not reach Ready=" << (status) << " " << (reason)       \
                 << " in time\n"                                                                  \
                 << (env).describe(name));                                                       \
  } while (false)

// The same for PostgresUser `name`.
#define REQUIRE_CONDITION(env, name, deadline, status, reason)                                    \
  REQUIRE_KIND_CONDITION("PostgresUser", env, name, deadline, status, reason)

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

namespace dbuser::test::e2e {

// `kubectl get <short_kind> <name>` in `ns` shows the columns NAME USERNAME DATABASE READY REASON
// AGE, and the user as Ready and Reconciled.
inline void check_printed_columns(const kube& k8s, const std::string& ns,
                                  const std::string& short_kind, const std::string& name,
                                  const std::string& username, const std::string& database) {
  const auto words = [](const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> out;
    for (std::string w; in >> w;)
      out.push_back(w);
    return out;
  };
  std::istringstream lines(k8s.must({"get", short_kind, name, "-n", ns}));
  std::string header;
  std::string row;
  std::getline(lines, header);
  std::getline(lines, row);
  CHECK(words(header)
        == std::vector<std::string>{"NAME", "USERNAME", "DATABASE", "READY", "REASON", "AGE"});
  auto cells = words(row);
  REQUIRE(cells.size() == 6);
  cells.pop_back(); // the age
  CHECK(cells == std::vector<std::string>{name, username, database, "True", "Reconciled"});
}

} // namespace dbuser::test::e2e
