#pragma once

// What the rotation suites share (PostgresUser and MySQLUser, through the e2e_env of either):
// the user under test, its rotate annotation, its Secret's password and pending password.
#include "api/credentials.hpp"
#include "test/e2e/support/e2e_env.hpp"
#include "test/support/wait.hpp"

#include <chrono>
#include <string>

namespace dbuser::test::e2e {

struct user_under_test {
  std::string name, username, database, secret;
};

// Sets the PostgresUser's database.example.com/rotate annotation to `value`.
inline void annotate_rotate(e2e_env& env, const user_under_test& u, const std::string& value) {
  env.k8s.merge_patch(pguser, env.ns, u.name,
                      {{"metadata", {{"annotations", {{"database.example.com/rotate", value}}}}}});
}

// The Secret holds a password being rotated in (api/rotation.hpp, step 2 done, step 4 not);
// remembered, so that the log checks cover it too.
inline bool has_pending(e2e_env& env, const user_under_test& u) {
  auto s = env.secret(u.secret);
  if (!s)
    return false;
  auto p = s->find(api::key_pending_password);
  if (p == s->end())
    return false;
  env.remember_password(p->second);
  return true;
}

// The password the Secret holds; "" when it is absent.
inline std::string password_of(e2e_env& env, const user_under_test& u) {
  auto s = env.secret(u.secret);
  return s ? s->at("password") : std::string();
}

// Waits until the Secret holds a password other than `old` and no pending one.
inline std::string wait_new_password(e2e_env& env, const user_under_test& u,
                                     const std::string& old,
                                     std::chrono::milliseconds deadline = std::chrono::seconds(30)) {
  std::string now;
  wait_until(
    [&] {
      now = password_of(env, u);
      return !now.empty() && now != old && !has_pending(env, u);
    },
    deadline, std::chrono::milliseconds(100));
  return now;
}

} // namespace dbuser::test::e2e
