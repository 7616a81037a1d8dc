#pragma once

// What the engines' tests share: the SQL text of a plan, the message of a refusal, and for the
// executors' integration tests a unique SQL name and an executor that was created.

#include "common/db_error_kind.hpp"
#include "test/support/wait.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

namespace dbuser::test {

// The statements of a plan (pg::action, mysql::action: anything with a `sql` member), in order.
template <class Action>
std::vector<std::string> sqls(const std::vector<Action>& actions) {
  std::vector<std::string> out;
  out.reserve(actions.size());
  for (const auto& a : actions)
    out.push_back(a.sql);
  return out;
}

// The message of a refused result (pg::result<void>, mysql::result<void>); empty when accepted.
template <class Result>
std::string reason(const Result& r) {
  return r ? std::string() : r.error().message;
}

// unique_name(prefix) as an SQL name: '-' becomes '_', at most `max_bytes` long.
inline std::string sql_name(const std::string& prefix, std::size_t max_bytes = std::string::npos) {
  auto n = unique_name(prefix);
  std::replace(n.begin(), n.end(), '-', '_');
  return n.substr(0, max_bytes);
}

// Executor::create(target), which must succeed (pg::executor, mysql::executor).
template <class Executor, class Target>
Executor created(Target t) {
  auto e = Executor::create(std::move(t));
  REQUIRE(e);
  return std::move(e).value();
}

// An executor of `t` on port 1, where nothing listens: asking it whether `database` exists is a
// transient `unavailable` error whose message holds no password.
template <class Executor, class Target>
void check_unreachable(Target t, const std::string& database) {
  t.port = 1;
  auto ex = created<Executor>(t);
  auto r = ex.database_exists(database);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == dbuser::db_error_kind::unavailable);
  CHECK(r.error().transient());
  CHECK(r.error().message.find(t.admin_password) == std::string::npos);
}

} // namespace dbuser::test
