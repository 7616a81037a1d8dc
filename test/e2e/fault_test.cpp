// Failure is isolated: a supervisor that throws is restarted by its manager and its resource
// becomes Ready, while every other resource carries on untouched, in the same process.
#include "test/e2e/support/prelude.hpp"

TEST_CASE("a supervisor that throws is restarted, its resource becomes Ready and the others never "
          "change state") {
  e2e_options opts;
  opts.fault_injection = true;
  e2e_env env(opts);
  const auto database = env.database_name("fault_db");

  struct bystander {
    std::string name;
    std::string secret;
    std::string resource_version;
    std::string last_transition_time;
  };
  std::vector<bystander> others;
  for (int i = 0; i < 3; ++i) {
    bystander b{env.object_name("bystander"), env.object_name("bystander-creds"), "", ""};
    env.apply(env.user_manifest(b.name, env.role_name("bystander"), database, b.secret));
    others.push_back(b);
  }
  for (auto& b : others) {
    REQUIRE_READY(env, b.name, seconds(30));
    // Settled: the status no longer changes once the first reconcile wrote it.
    REQUIRE(env.login_with_secret(b.secret).empty());
    b.resource_version = env.user(b.name).value()["metadata"]["resourceVersion"];
    b.last_transition_time = env.ready(b.name).last_transition_time;
  }
  const auto pid = env.op->pid();

  const auto name = env.object_name("thrower");
  const auto secret_name = env.object_name("thrower-creds");
  auto user = env.user_manifest(name, env.role_name("thrower"), database, secret_name);
  user["metadata"]["annotations"] = {{"database.example.com/fault-injection", "throw"}};
  env.apply(user);

  // While the thrower dies and comes back, every bystander stays Ready, unchanged.
  std::vector<std::string> disturbed;
  auto bystanders_unchanged = [&] {
    for (const auto& b : others) {
      auto s = env.ready(b.name);
      if (s.status != "True" || s.last_transition_time != b.last_transition_time)
        disturbed.push_back(b.name + " went " + s.status + " " + s.reason);
    }
    return disturbed.empty();
  };
  const bool died = wait_until(
      [&] {
        bystanders_unchanged();
        return !env.op->log_lines_about(env.ns, name, {"supervisor died"}).empty();
      },
      seconds(30), milliseconds(200));
  if (!died)
    FAIL("the thrower's supervisor did not die\n" << env.describe(name));
  const bool ready = wait_until(
      [&] {
        bystanders_unchanged();
        auto s = env.ready(name);
        return s.status == "True" && s.reason == "Reconciled";
      },
      seconds(30), milliseconds(200));
  if (!ready)
    FAIL("the thrower did not become Ready after its restart\n" << env.describe(name));
  CHECK(env.login_with_secret(secret_name).empty());

  // Two more resync periods (5 s) for anything to ripple through.
  const auto settle_until = steady_clock::now() + seconds(11);
  wait_until(
      [&] { return !bystanders_unchanged() || steady_clock::now() >= settle_until; },
      seconds(12), milliseconds(250));
  for (const auto& d : disturbed)
    UNSCOPED_INFO(d);
  CHECK(disturbed.empty());
  for (const auto& b : others) {
    INFO("bystander " << b.name);
    CHECK(env.user(b.name).value()["metadata"]["resourceVersion"] == b.resource_version);
    CHECK(env.login_with_secret(b.secret).empty());
  }
  CHECK(env.op->running());
  CHECK(env.op->pid() == pid);
  CHECK(env.op->starts() == 1);
  CHECK(env.op->log_lines_with({"supervisor died"}).size() == 1);
  CHECK_NO_SECRETS_IN_LOG(env);
}
