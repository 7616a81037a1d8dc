// PostgreSQL goes away for 30 s while 20 PostgresUsers are created: the operator reports it,
// backs off, stays up, and converges every one of them once the database is back.
#include "test/e2e/support/prelude.hpp"

TEST_CASE("20 PostgresUsers created while PostgreSQL is down for 30 s are all Ready afterwards "
          "without an operator restart") {
  e2e_env env;
  const auto database = env.database_name("outage_db");
  env.pg.exec("CREATE DATABASE " + postgres::ident(database));
  const auto pid = env.op->pid();
  REQUIRE(env.op->wait_for_log({"PostgresUser cache synced"}));

  restart_postgres_at_exit guard{env.pg};
  env.pg.stop();
  const auto stopped = steady_clock::now();

  const auto users = env.apply_users("outage", database, 20); // name, secret

  // While it is down, each resource says so.
  const bool reported = wait_until(
      [&] {
        for (const auto& u : env.k8s.list(pguser, env.ns)) {
          bool unreachable = false;
          for (const auto& c : u.value("/status/conditions"_json_pointer, nlohmann::json::array()))
            unreachable = unreachable
                          || (c.value("type", "") == "Ready" && c.value("status", "") == "False"
                              && c.value("reason", "") == "DatabaseUnreachable");
          if (!unreachable)
            return false;
        }
        return true;
      },
      seconds(25), milliseconds(500));
  if (!reported)
    FAIL("not every PostgresUser reports DatabaseUnreachable\n" << env.describe(users[0].first));
  for (const auto& [name, secret] : users) {
    bool warned = false;
    for (const auto& w : env.warnings(name))
      warned = warned || w.rfind("DatabaseUnreachable:", 0) == 0;
    INFO("PostgresUser " << name);
    CHECK(warned);
  }

  // The rest of the 30 s outage: the operator stays up the whole time.
  bool stayed_up = true;
  wait_until(
      [&] {
        stayed_up = stayed_up && env.op->running();
        return steady_clock::now() - stopped >= seconds(30);
      },
      seconds(31), milliseconds(250));
  CHECK(stayed_up);
  env.pg.start();
  const auto restarted = steady_clock::now();

  std::vector<std::string> not_ready;
  const bool all_ready = wait_until(
      [&] {
        not_ready.clear();
        for (const auto& [name, secret] : users)
          if (env.ready(name).status != "True")
            not_ready.push_back(name);
        return not_ready.empty();
      },
      seconds(120), milliseconds(1000));
  WARN("all Ready " << duration_cast<milliseconds>(steady_clock::now() - restarted).count()
                    << " ms after PostgreSQL came back");
  if (!all_ready)
    FAIL(not_ready.size() << " PostgresUsers are not Ready\n" << env.describe(not_ready[0]));

  CHECK(env.op->running());
  CHECK(env.op->pid() == pid);
  CHECK(env.op->starts() == 1);
  for (const auto& [name, secret] : users) {
    INFO("PostgresUser " << name);
    CHECK(env.login_with_secret(secret).empty());
  }
  CHECK_NO_SECRETS_IN_LOG(env);
}
