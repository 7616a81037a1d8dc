// The operator process itself: it stops within 10 s of SIGTERM with exit code 0, and a new
// process picks up where the old one left off.
#include "test/e2e/support/prelude.hpp"
#include "test/support/dev_env.hpp"

#include <map>
#include <sstream>

namespace {

// Kubernetes writes (create, patch, update, delete) the running operator counted in /metrics.
double kube_writes(const e2e_env& env) {
  const auto text =
    dbuser::test::run_command("curl -sf --max-time 5 http://" + env.op->listen_address() + "/metrics").out;
  std::istringstream metrics(text);
  double writes = 0;
  for (std::string line; std::getline(metrics, line);) {
    if (line.rfind("dbuser_kube_requests_total{", 0) != 0)
      continue;
    for (const char* verb : {"create", "patch", "update", "delete"})
      if (line.find(std::string("verb=\"") + verb + "\"") != std::string::npos)
        writes += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return writes;
}

// Restarts the operator and waits until the new process has reconciled every one of `names`.
void restart_and_reconcile(e2e_env& env, const std::vector<std::string>& names) {
  std::map<std::string, std::size_t> before;
  for (const auto& n : names)
    before[n] = env.op->log_lines_about(env.ns, n, {"reconciled in"}).size();
  env.op->restart(seconds(15));
  const bool all = wait_until(
    [&] {
      for (const auto& n : names)
        if (env.op->log_lines_about(env.ns, n, {"reconciled in"}).size() <= before[n])
          return false;
      return true;
    },
    seconds(30), milliseconds(200));
  REQUIRE(all);
}

std::size_t login_checks(const e2e_env& env, const std::string& name) {
  return env.op->log_lines_about(env.ns, name, {"login check as"}).size();
}

} // namespace

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

TEST_CASE("a restarted operator: writes nothing and opens no login check for users whose status "
          "shows a recent verified check, and checks those whose check is old or failed") {
  e2e_options opts;
  opts.resync_period = "10m"; // only the restart reconciles
  e2e_env env(opts);
  const auto db = env.database_name("restart_db");
  std::vector<std::string> names;
  for (int i = 0; i < 4; ++i) {
    const auto id = std::to_string(i);
    names.push_back(env.object_name("restart-" + id));
    env.apply(env.user_manifest(names.back(), env.role_name("restart_" + id), db,
                                names.back() + "-creds"));
  }
  for (const auto& n : names)
    REQUIRE_READY(env, n, seconds(30));
  std::map<std::string, std::size_t> checks;
  for (const auto& n : names) {
    checks[n] = login_checks(env, n);
    REQUIRE(checks[n] > 0); // the new role's check, logged at debug level
  }

  // Every user's check is recent and verified the Secret it holds: nothing to write, no login.
  restart_and_reconcile(env, names);
  CHECK_FALSE(wait_until([&] { return kube_writes(env) > 0; }, seconds(3), milliseconds(250)));
  CHECK(kube_writes(env) == 0);
  for (const auto& n : names) {
    INFO(n);
    CHECK(login_checks(env, n) == checks[n]);
    CHECK(env.ready(n).status == "True");
  }

  // A check two hours old and a check that failed are due at once after a restart.
  env.op->stop(seconds(15));
  env.k8s.must({"patch", pguser, names[0], "-n", env.ns, "--subresource=status", "--type=merge",
                "-p", R"({"status":{"connection":{"lastCheckTime":"2020-01-01T00:00:00Z"}}})"});
  env.k8s.must({"patch", pguser, names[1], "-n", env.ns, "--subresource=status", "--type=merge",
                "-p", R"({"status":{"connection":{"verified":false}}})"});
  restart_and_reconcile(env, names);
  for (const auto& n : {names[0], names[1]}) {
    INFO(n);
    CHECK(wait_until([&] { return login_checks(env, n) > checks[n]; }, seconds(20),
                     milliseconds(200)));
  }
  for (const auto& n : {names[2], names[3]}) {
    INFO(n);
    CHECK(login_checks(env, n) == checks[n]);
  }
  CHECK(env.ready(names[1]).status == "True");
  CHECK_NO_SECRETS_IN_LOG(env);
}
