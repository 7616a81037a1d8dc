// The operator process itself: it stops within 10 s of SIGTERM with exit code 0, and a new
// process picks up where the old one left off.
#include "test/e2e/support/checks.hpp"
#include "test/e2e/support/e2e_env.hpp"
#include "test/support/wait.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono;
using namespace dbuser::test::e2e;

TEST_CASE("the operator stops within 10 s of SIGTERM and a restarted one keeps its users Ready") {
  e2e_env env;
  const auto name = env.object_name("survivor");
  const auto secret_name = env.object_name("survivor-creds");
  env.apply(env.user_manifest(name, env.role_name("survivor"), env.database_name("survivor_db"),
                              secret_name));
  REQUIRE_READY(env, name, seconds(20));
  const auto password = env.secret(secret_name).value()["password"];
  const auto transition = env.ready(name).last_transition_time;

  const auto how = env.op->stop(seconds(15));
  INFO("exit: signaled " << how.signaled << ", signal " << how.signal << ", code " << how.code);
  CHECK_FALSE(how.signaled);
  CHECK(how.code == 0);
  CHECK(how.took < seconds(10));
  WARN("stopped " << how.took.count() << " ms after SIGTERM");

  // The log file is appended to: the new process's reconcile is one more "reconciled" line.
  const auto reconciles = env.op->log_lines_about(env.ns, name, {"reconciled in"}).size();
  env.op->start();
  const bool reconciled = dbuser::test::wait_until(
      [&] { return env.op->log_lines_about(env.ns, name, {"reconciled in"}).size() > reconciles; },
      seconds(20), milliseconds(200));
  if (!reconciled)
    FAIL("the restarted operator did not reconcile " << name << "\n" << env.describe(name));
  CHECK(env.ready(name).status == "True");
  CHECK(env.ready(name).last_transition_time == transition);
  CHECK(env.secret(secret_name).value()["password"] == password);
  CHECK(env.login_with_secret(secret_name).empty());
  CHECK(env.op->starts() == 2);
  CHECK_NO_SECRETS_IN_LOG(env);
}
