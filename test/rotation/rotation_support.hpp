#pragma once

// What the rotation suites share: the user under test, its rotate annotation, and whether its
// Secret holds a pending password.
#include "api/credentials.hpp"
#include "test/e2e/support/e2e_env.hpp"

#include <string>

namespace dbuser::test::e2e {

struct user_under_test {
  std::string name, role, database, secret;
};

// Sets the PostgresUser's database.example.com/rotate annotation to `value`.
inline void annotate_rotate(e2e_env& env, const user_under_test& u, const std::string& value) {
  env.k8s.merge_patch(pguser, env.ns, u.name,
                      {{"metadata", {{"annotations", {{"database.example.com/rotate", value}}}}}});
}

// The Secret holds a password being rotated in (api/rotation.hpp, step 2 done, step 4 not).
inline bool has_pending(e2e_env& env, const user_under_test& u) {
  auto s = env.secret(u.secret);
  return s && s->count(api::key_pending_password) != 0;
}

} // namespace dbuser::test::e2e
