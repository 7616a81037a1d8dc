#include "actors/introspection_table.hpp"
#include "test/observability/prometheus_parser.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::actors;
namespace prom = dbuser::test::prom;
using std::chrono::system_clock;

namespace {

supervisor_report report(const std::string& key, const std::string& phase,
                         const std::string& result = "", bool ready = false) {
  supervisor_report r;
  r.key = key;
  r.phase = phase;
  r.last_result = result;
  r.ready = ready;
  r.last_duration_seconds = 0.2;
  return r;
}

const auto t0 = system_clock::time_point(std::chrono::seconds(1700000000));

} // namespace

TEST_CASE("every supervisor that reports appears once and a deleted one disappears") {
  introspection_table t;
  t.apply(report("ns/a", "Reconciling"), t0);
  t.apply(report("ns/a", "Idle", "success", true), t0);
  t.apply(report("ns/b", "Reconciling"), t0);
  REQUIRE(t.supervisors() == 2);
  REQUIRE(t.debug_json()["supervisors"].size() == 2);
  auto gone = report("ns/b", "Stopped");
  gone.deleted = true;
  t.apply(gone, t0);
  REQUIRE(t.supervisors() == 1);
  REQUIRE_FALSE(t.supervisor_json("ns/b"));
  REQUIRE(t.supervisor_json("ns/a")->at("phase") == "Idle");
}

TEST_CASE("a failing supervisor shows its last error and when it retries") {
  introspection_table t;
  auto r = report("team/x", "Backoff", "retry");
  r.attempts = 3;
  r.last_error = "AdminSecretNotFound: Secret team/missing not found";
  r.next_wakeup_ms = 1500;
  t.apply(r, t0);
  auto j = *t.supervisor_json("team/x");
  REQUIRE(j["namespace"] == "team");
  REQUIRE(j["name"] == "x");
  REQUIRE(j["attempts"] == 3);
  REQUIRE(j["last_error"] == "AdminSecretNotFound: Secret team/missing not found");
  REQUIRE(j["next_retry"] == "2023-11-14T22:13:21.500000Z");
  REQUIRE(j["last_success"].is_null());
}

TEST_CASE("reconciles are counted by result with their duration, and users by readiness") {
  introspection_table t;
  t.apply(report("ns/a", "Reconciling"), t0);
  t.apply(report("ns/a", "Idle", "success", true), t0);
  t.apply(report("ns/a", "Reconciling"), t0); // a resync: still ready meanwhile
  t.apply(report("ns/b", "Backoff", "retry"), t0);
  t.apply(report("ns/c", "Refused", "refused"), t0);
  t.apply(report("ns/c", "Deleting"), t0);
  const auto e = prom::parse(t.metrics_text({}));
  REQUIRE(e.errors.empty());
  REQUIRE(e.value("dbuser_reconciles_total", {{"result", "success"}}) == 1);
  REQUIRE(e.value("dbuser_reconciles_total", {{"result", "retry"}}) == 1);
  REQUIRE(e.value("dbuser_reconciles_total", {{"result", "refused"}}) == 1);
  REQUIRE(e.value("dbuser_reconcile_duration_seconds_count") == 3);
  REQUIRE(e.value("dbuser_reconcile_duration_seconds_bucket", {{"le", "0.25"}}) == 3);
  REQUIRE(e.value("dbuser_managed_users", {{"ready", "true"}}) == 1);
  REQUIRE(e.value("dbuser_managed_users", {{"ready", "false"}}) == 2);
  REQUIRE(e.value("dbuser_supervisors_in_backoff") == 1);
}

TEST_CASE("pools, Kubernetes requests, restarts and the process appear in /metrics") {
  introspection_table t;
  pool_stats p;
  p.target = "127.0.0.1:5432/postgres";
  p.size = 3;
  p.busy = 1;
  p.waiting = 2;
  p.restarts = 1;
  p.jobs = 10;
  t.apply(p);
  auto r = report("ns/a", "Idle", "success", true);
  r.restarts = 2;
  t.apply(r, t0);
  t.rotation();
  external_counters ext;
  ext.kube_requests = {{"get", 200, 5}, {"patch", 409, 1}};
  ext.watch_restarts = 4;
  ext.rss_bytes = 1024;
  ext.open_fds = 12;
  const auto e = prom::parse(t.metrics_text(ext));
  REQUIRE(e.errors.empty());
  const std::map<std::string, std::string> target{{"target", p.target}};
  REQUIRE(e.value("dbuser_db_pool_size", target) == 3);
  REQUIRE(e.value("dbuser_db_pool_idle", target) == 2);
  REQUIRE(e.value("dbuser_db_pool_waiting", target) == 2);
  REQUIRE(e.value("dbuser_db_pool_restarts_total", target) == 1);
  REQUIRE(e.value("dbuser_kube_requests_total", {{"verb", "patch"}, {"code", "409"}}) == 1);
  REQUIRE(e.value("dbuser_watch_restarts_total") == 4);
  REQUIRE(e.value("dbuser_password_rotations_total") == 1);
  REQUIRE(e.value("dbuser_actor_restarts_total", {{"kind", "user_supervisor"}}) == 2);
  REQUIRE(e.value("dbuser_actor_restarts_total", {{"kind", "db_connection"}}) == 1);
  REQUIRE(e.value("process_open_fds") == 12);
  auto pools = t.debug_json()["pools"];
  REQUIRE(pools.size() == 1);
  REQUIRE(pools[0]["idle"] == 2);
}

TEST_CASE("losing leadership empties the supervisor table but keeps the counters") {
  introspection_table t;
  dbuser::msg::leader_status s;
  s.enabled = true;
  s.leader = true;
  t.apply(s);
  t.apply(report("ns/a", "Idle", "success", true), t0);
  s.leader = false;
  t.apply(s);
  REQUIRE(t.supervisors() == 0);
  const auto e = prom::parse(t.metrics_text({}));
  REQUIRE(e.value("dbuser_reconciles_total", {{"result", "success"}}) == 1);
  REQUIRE(e.value("dbuser_leader") == 0);
}

TEST_CASE("the process's own RSS and open descriptors are readable") {
  REQUIRE(process_rss_bytes().value_or(0) > 0);
  REQUIRE(process_open_fds().value_or(0) >= 3);
}

TEST_CASE("a PostgresUser and a MySQLUser with one namespace/name have a row each") {
  using namespace dbuser::actors;
  introspection_table t;
  supervisor_report pg_row;
  pg_row.kind = "PostgresUser";
  pg_row.key = "ns/same";
  pg_row.phase = "Idle";
  supervisor_report my_row = pg_row;
  my_row.kind = "MySQLUser";
  t.apply(pg_row, system_clock::now());
  t.apply(my_row, system_clock::now());
  CHECK(t.supervisors() == 2);
  auto both = t.supervisor_json("ns/same");
  REQUIRE(both);
  CHECK(both->is_array());
  CHECK(both->size() == 2);
}

TEST_CASE("users are counted per kind and namespace, the scrape's own namespace label aside") {
  introspection_table t;
  auto pg = [](const std::string& key, bool ready) {
    auto r = report(key, ready ? "Idle" : "Refused", ready ? "success" : "refused", ready);
    r.kind = "PostgresUser";
    return r;
  };
  t.apply(pg("team-a/x", true), t0);
  t.apply(pg("team-a/y", false), t0);
  t.apply(pg("team-a/z", false), t0);
  t.apply(pg("team-b/x", true), t0);
  auto my = report("team-a/x", "Idle", "success", true);
  my.kind = "MySQLUser";
  t.apply(my, t0);
  const auto m = prom::parse(t.metrics_text({}));
  REQUIRE(m.errors.empty());
  auto users = [&](const char* kind, const char* ns, const char* ready) {
    return m.value("dbuser_managed_users_by_namespace",
                   {{"kind", kind}, {"user_namespace", ns}, {"ready", ready}});
  };
  REQUIRE(users("PostgresUser", "team-a", "true") == 1);
  REQUIRE(users("PostgresUser", "team-a", "false") == 2);
  REQUIRE(users("PostgresUser", "team-b", "true") == 1);
  REQUIRE(users("PostgresUser", "team-b", "false") == 0);
  REQUIRE(users("MySQLUser", "team-a", "true") == 1);
  REQUIRE_FALSE(users("MySQLUser", "team-b", "true"));
  REQUIRE(m.sum("dbuser_managed_users_by_namespace") == m.sum("dbuser_managed_users"));
}

TEST_CASE("the earliest rotation due among the users is exported, and absent without rotations") {
  introspection_table t;
  t.apply(report("ns/a", "Idle", "success", true), t0);
  REQUIRE_FALSE(prom::parse(t.metrics_text({})).value(
    "dbuser_password_rotation_earliest_due_timestamp_seconds"));
  auto b = report("ns/b", "Idle", "success", true);
  b.rotation_due_unix = 1700003600;
  auto c = report("ns/c", "Idle", "success", true);
  c.rotation_due_unix = 1700000600;
  t.apply(b, t0);
  t.apply(c, t0);
  const auto m = prom::parse(t.metrics_text({}));
  REQUIRE(m.errors.empty());
  REQUIRE(m.value("dbuser_password_rotation_earliest_due_timestamp_seconds") == 1700000600);
  REQUIRE(t.supervisor_json("ns/c")->at("rotation_due") == "2023-11-14T22:23:20.000000Z");
  auto gone = c;
  gone.deleted = true;
  t.apply(gone, t0);
  REQUIRE(prom::parse(t.metrics_text({})).value(
            "dbuser_password_rotation_earliest_due_timestamp_seconds") == 1700003600);
}

TEST_CASE("each target's reconcile slots and waiting lines appear in /metrics and /debug/actors") {
  introspection_table t;
  slot_queue_stats q;
  q.kind = "PostgresUser";
  q.target = "postgresql://127.0.0.1:5432";
  q.running = 64;
  q.waiting[0] = 3;
  q.waiting[1] = 900;
  q.namespaces_waiting = 2;
  q.granted[0] = 10;
  q.waited_seconds[0] = 2.5;
  q.max_wait_seconds[0] = 0.75;
  t.apply(q);
  const auto e = prom::parse(t.metrics_text({}));
  REQUIRE(e.errors.empty());
  const std::map<std::string, std::string> urgent{
    {"kind", "PostgresUser"}, {"target", q.target}, {"lane", "urgent"}};
  const std::map<std::string, std::string> background{
    {"kind", "PostgresUser"}, {"target", q.target}, {"lane", "background"}};
  REQUIRE(e.value("dbuser_reconcile_slots_busy", {{"kind", "PostgresUser"}, {"target", q.target}})
          == 64);
  REQUIRE(e.value("dbuser_reconcile_queue_depth", urgent) == 3);
  REQUIRE(e.value("dbuser_reconcile_queue_depth", background) == 900);
  REQUIRE(e.value("dbuser_reconcile_queue_grants_total", urgent) == 10);
  REQUIRE(e.value("dbuser_reconcile_queue_wait_seconds_total", urgent) == 2.5);
  REQUIRE(e.value("dbuser_reconcile_queue_max_wait_seconds", urgent) == 0.75);
  const auto queues = t.debug_json()["queues"];
  REQUIRE(queues.size() == 1);
  CHECK(queues[0]["running"] == 64);
  CHECK(queues[0]["lanes"]["urgent"]["mean_wait_seconds"] == 0.25);
  CHECK(queues[0]["lanes"]["background"]["waiting"] == 900);
}

TEST_CASE("users claimed by another install are counted apart, not as managed, with the install "
          "identity") {
  introspection_table t;
  t.set_install_id("dbuser-system/dbuser-operator");
  t.apply(report("ns/a", "Idle", "success", true), t0);
  auto elsewhere = report("ns/b", "ClaimedElsewhere");
  elsewhere.kind = "PostgresUser";
  elsewhere.claimed_by = "team-b/dbuser-operator";
  t.apply(elsewhere, t0);
  auto other = elsewhere;
  other.key = "ns/c";
  t.apply(other, t0);
  auto released = report("ns/d", "Released");
  released.kind = "MySQLUser";
  released.claimed_by = "dbuser-system/dbuser-operator";
  t.apply(released, t0);
  const auto e = prom::parse(t.metrics_text({}));
  REQUIRE(e.errors.empty());
  CHECK(e.value("dbuser_install_info", {{"install_id", "dbuser-system/dbuser-operator"}}) == 1);
  CHECK(e.value("dbuser_users_claimed_elsewhere",
                {{"kind", "PostgresUser"}, {"claimed_by", "team-b/dbuser-operator"}})
        == 2);
  CHECK(e.value("dbuser_users_released", {{"kind", "MySQLUser"}}) == 1);
  CHECK(e.value("dbuser_managed_users", {{"ready", "true"}}) == 1);
  CHECK(e.value("dbuser_managed_users", {{"ready", "false"}}) == 0);
  CHECK(e.value("dbuser_reconciles_total", {{"result", "success"}}) == 1);
  const auto d = t.debug_json();
  CHECK(d["install"]["id"] == "dbuser-system/dbuser-operator");
  CHECK(t.supervisor_json("ns/b")->at("claimed_by") == "team-b/dbuser-operator");
  CHECK(t.supervisor_json("ns/a")->at("claimed_by").is_null());
}

TEST_CASE("with shards /metrics has each shard's hold, takeovers and users, and without none") {
  introspection_table t;
  REQUIRE_FALSE(prom::parse(t.metrics_text({})).value("dbuser_shard_held", {{"shard", "0"}}));
  external_counters ext;
  shard_status held;
  held.shard = 0;
  held.held = true;
  held.held_since_unix = 1700000000;
  held.takeovers = 2;
  held.users = 40;
  shard_status other;
  other.shard = 1;
  ext.shards = {held, other};
  const auto e = prom::parse(t.metrics_text(ext));
  REQUIRE(e.errors.empty());
  CHECK(e.value("dbuser_shard_held", {{"shard", "0"}}) == 1);
  CHECK(e.value("dbuser_shard_held", {{"shard", "1"}}) == 0);
  CHECK(e.value("dbuser_shard_held_since_seconds", {{"shard", "0"}}) == 1700000000);
  CHECK(e.value("dbuser_shard_takeovers_total", {{"shard", "0"}}) == 2);
  CHECK(e.value("dbuser_shard_users", {{"shard", "0"}}) == 40);
  const auto j = shards_json(ext.shards);
  REQUIRE(j.size() == 2);
  CHECK(j[0]["users"] == 40);
  CHECK(j[1]["held"] == false);
}
