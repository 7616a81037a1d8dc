// The real binary's /metrics, /debug/actors, /healthz and /readyz against the dev environment;
// Event aggregation for a resource that keeps failing; JSON logs.
#include "test/e2e/support/prelude.hpp"
#include "test/observability/http_get.hpp"
#include "test/observability/prometheus_parser.hpp"

#include <sstream>

using dbuser::test::http_get;
namespace prom = dbuser::test::prom;

namespace {

prom::exposition scrape(const operator_process& op) {
  auto r = http_get(op.listen_address(), "/metrics");
  prom::exposition e;
  if (r.status != 200) {
    e.errors.push_back("GET /metrics: status " + std::to_string(r.status));
    return e;
  }
  e = prom::parse(r.body);
  return e;
}

json debug_actors(const operator_process& op) {
  auto r = http_get(op.listen_address(), "/debug/actors");
  if (r.status != 200)
    return json::object();
  return json::parse(r.body, nullptr, false);
}

} // namespace

TEST_CASE("metrics and the actor table follow PostgresUsers that succeed and fail") {
  e2e_env env;
  auto& op = *env.op;
  REQUIRE(wait_until([&] { return http_get(op.listen_address(), "/healthz").status == 200; },
                     seconds(20)));
  REQUIRE(wait_until([&] { return http_get(op.listen_address(), "/readyz").status == 200; },
                     seconds(20)));
  const auto before = scrape(op);
  INFO("operator log: " << op.log_path());
  REQUIRE(before.errors.empty());
  const double success_before = before.value("dbuser_reconciles_total", {{"result", "success"}}).value_or(-1);
  REQUIRE(success_before == 0);

  const auto good1 = env.object_name("obs-good");
  const auto good2 = env.object_name("obs-good");
  const auto bad = env.object_name("obs-bad");
  const auto db = env.database_name("obs_db");
  env.apply(env.user_manifest(good1, env.role_name("obs_a"), db, good1 + "-creds"));
  env.apply(env.user_manifest(good2, env.role_name("obs_b"), db, good2 + "-creds"));
  auto failing = env.user_manifest(bad, env.role_name("obs_c"), db, bad + "-creds");
  failing["spec"]["adminSecretRef"]["name"] = "no-such-admin-secret";
  env.apply(failing);
  REQUIRE(env.wait_ready(good1, seconds(60)));
  REQUIRE(env.wait_ready(good2, seconds(60)));
  REQUIRE(env.wait_ready(bad, seconds(60), "False"));

  SECTION("/debug/actors lists one supervisor per PostgresUser with the failing one's error") {
    json table;
    REQUIRE(wait_until(
      [&] {
        table = debug_actors(op);
        return table.value("supervisors", json::array()).size() == 3;
      },
      seconds(20)));
    std::map<std::string, int> seen;
    json failing_row;
    for (const auto& s : table["supervisors"]) {
      ++seen[s["key"].get<std::string>()];
      if (s["name"] == bad)
        failing_row = s;
    }
    REQUIRE(seen.size() == 3);
    for (const auto& name : {good1, good2, bad})
      REQUIRE(seen[env.ns + "/" + name] == 1);
    INFO(failing_row.dump(2));
    REQUIRE(failing_row["last_error"].get<std::string>().find("no-such-admin-secret")
            != std::string::npos);
    REQUIRE(failing_row["phase"] == "Backoff");
    REQUIRE(failing_row["next_retry"].is_string());
    REQUIRE(failing_row["attempts"].get<int>() >= 1);
    REQUIRE(table["pools"].size() >= 1);
    const auto& pool = table["pools"][0];
    REQUIRE(pool["target"].get<std::string>().find("127.0.0.1:") != std::string::npos);
    REQUIRE(pool["size"].get<int>() >= 1);
    REQUIRE(pool.contains("busy"));
    REQUIRE(pool.contains("idle"));
    REQUIRE(pool.contains("waiting"));
    REQUIRE(pool.contains("restarts"));

    auto one = http_get(op.listen_address(), "/debug/actors/" + env.ns + "/" + good1);
    REQUIRE(one.status == 200);
    REQUIRE(json::parse(one.body)["ready"] == true);
    REQUIRE(http_get(op.listen_address(), "/debug/actors/" + env.ns + "/nobody").status == 404);
  }

  SECTION("/metrics parses and its counters moved") {
    prom::exposition m;
    REQUIRE(wait_until(
      [&] {
        m = scrape(op);
        return m.errors.empty()
               && m.value("dbuser_reconciles_total", {{"result", "success"}}).value_or(0) >= 2
               && m.value("dbuser_reconciles_total", {{"result", "retry"}}).value_or(0) >= 1;
      },
      seconds(20)));
    for (const auto& e : m.errors)
      UNSCOPED_INFO(e);
    REQUIRE(m.errors.empty());
    REQUIRE(m.value("dbuser_reconcile_duration_seconds_count").value_or(0) >= 3);
    REQUIRE(m.value("dbuser_managed_users", {{"ready", "true"}}) == 2);
    REQUIRE(m.value("dbuser_managed_users", {{"ready", "false"}}) == 1);
    REQUIRE(m.value("dbuser_supervisors_in_backoff") == 1);
    REQUIRE(m.sum("dbuser_kube_requests_total", {{"verb", "list"}}) >= 2);
    REQUIRE(m.sum("dbuser_kube_requests_total", {{"verb", "patch"}}) >= 2);
    REQUIRE(m.sum("dbuser_db_pool_size") >= 1);
    REQUIRE(m.sum("dbuser_db_pool_jobs_total") >= 2);
    REQUIRE(m.value("dbuser_leader") == 1);
    REQUIRE(m.value("process_resident_memory_bytes").value_or(0) > 1e6);
    REQUIRE(m.value("process_open_fds").value_or(0) > 3);
    REQUIRE(m.types.at("dbuser_reconcile_duration_seconds") == "histogram");
  }

  SECTION("a resource that keeps failing produces few Events whose count grows") {
    // Backoff from 100 ms: a minute holds about ten attempts, each one a Warning Event.
    std::vector<json> events;
    const bool repeated = wait_until(
      [&] {
        events = env.k8s.events(env.ns, bad, "Warning");
        for (const auto& e : events)
          if (e.value("count", 0) >= 4)
            return true;
        return false;
      },
      seconds(90), seconds(1));
    INFO(json(events).dump(2));
    REQUIRE(repeated);
    REQUIRE(events.size() <= 2);
  }

  op.stop();
  const auto bad_lines = non_json_lines(op.log());
  for (const auto& l : bad_lines)
    UNSCOPED_INFO("not a JSON log line: " << l);
  REQUIRE(bad_lines.empty());
}

// The operator's own writes (the finalizer patch, the Secret it creates, its status) come back
// through its watches: they must not start a second reconcile, or every new user costs two pool
// jobs. A change by someone else (the spec) still starts exactly one.
TEST_CASE("a new PostgresUser is reconciled once: its own writes coming back start no reconcile") {
  e2e_options opts;
  opts.resync_period = "10m"; // no timer in the window: every reconcile here is a watch event's
  e2e_env env(opts);
  auto& op = *env.op;
  REQUIRE(wait_until([&] { return http_get(op.listen_address(), "/readyz").status == 200; },
                     seconds(20)));
  INFO("operator log: " << op.log_path());
  const auto name = env.object_name("once");
  auto user = env.user_manifest(name, env.role_name("once"), env.database_name("once_db"),
                                name + "-creds");
  env.apply(user);
  REQUIRE(env.wait_ready(name, seconds(60)));
  REQUIRE(env.secret(name + "-creds"));

  // The echoes of the first reconcile arrive within milliseconds, long before this change.
  user["spec"]["privileges"] = json{"SELECT"};
  env.apply(user);
  const auto generation = env.user(name).value()["metadata"]["generation"].get<std::int64_t>();
  REQUIRE(generation == 2);
  // observedGeneration 2 is written at the end of the reconcile the change started.
  REQUIRE(wait_until(
    [&] {
      auto u = env.user(name);
      return u && u->value("/status/observedGeneration"_json_pointer, std::int64_t{0}) == 2;
    },
    seconds(30)));
  const auto m = scrape(op);
  CHECK(m.value("dbuser_reconciles_total", {{"result", "success"}}) == 2);
  CHECK(m.sum("dbuser_reconciles_total") == 2);
  CHECK(m.sum("dbuser_db_pool_jobs_total") == 2);
}
