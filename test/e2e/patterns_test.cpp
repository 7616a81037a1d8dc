// The three-role pattern of docs/patterns.md, end to end, with a real migration tool: Alembic
// (from PyPI, hack/alembic-env.sh) runs as the migrating user and creates tables with serial,
// bigserial and identity columns, an index, a view, a function and an enum type; the
// application user writes to every table, reads the view and calls the function; the reporting
// user reads and cannot write; a second migration adds a table that both use at once, without
// the operator; rotating the application's password and deleting the others leaves it working.
#include "test/e2e/support/checks.hpp"
#include "test/e2e/support/e2e_env.hpp"
#include "test/e2e/support/process.hpp"
#include "test/support/wait.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono;
using namespace dbuser::test::e2e;
using dbuser::test::wait_until;
using nlohmann::json;

namespace {

const std::string patterns_dir = std::string(DBUSER_SOURCE_DIR) + "/test/e2e/patterns";

std::string alembic_bin() {
  auto r = run({std::string(DBUSER_SOURCE_DIR) + "/hack/alembic-env.sh"});
  if (!r.ok())
    throw std::runtime_error("hack/alembic-env.sh failed: " + r.err);
  return r.out.substr(0, r.out.find('\n')) + "/bin/alembic";
}

// `alembic upgrade <revision>` as the user whose Secret holds `uri`: "" on success, else its output.
std::string migrate(const std::string& alembic, const std::string& uri, const std::string& rev) {
  auto r = run({alembic, "-c", patterns_dir + "/alembic.ini", "upgrade", rev}, "",
               {{"PATTERNS_DB_URL", uri}});
  return r.ok() ? std::string() : r.out + r.err;
}

} // namespace

TEST_CASE("a migrating owner, an application and a reporting user: the migration tool's objects "
          "are usable at once, and stay so through rotation and deletions") {
  const auto alembic = alembic_bin();
  e2e_env env;
  const auto db = env.database_name("shop");
  const auto migrator = env.role_name("shop_migrator");
  const auto app = env.role_name("shop_app");
  const auto reporting = env.role_name("shop_reporting");
  auto manifest = [&](const std::string& who, const std::string& role) {
    return env.user_manifest(env.object_name(who), role, db, env.object_name(who + "-creds"));
  };
  auto m = manifest("migrator", migrator);
  m["spec"]["privileges"] = json::array();
  m["spec"]["schemaPrivileges"] = json::array({"CREATE"});
  env.apply(m);
  REQUIRE_READY(env, m["metadata"]["name"].get<std::string>(), seconds(30));
  const auto migrator_creds = *env.secret(m["spec"]["secretName"].get<std::string>());
  {
    const auto out = migrate(alembic, migrator_creds.at("uri"), "0001");
    INFO(out);
    REQUIRE(out.empty());
  }

  auto a = manifest("app", app); // SELECT INSERT UPDATE DELETE
  a["spec"]["functionPrivileges"] = json::array({"EXECUTE"});
  a["spec"]["defaultPrivilegesFor"] = json::array({migrator});
  auto r = manifest("reporting", reporting);
  r["spec"]["privileges"] = json::array({"SELECT"});
  r["spec"]["defaultPrivilegesFor"] = json::array({migrator});
  env.apply(a);
  env.apply(r);
  REQUIRE_READY(env, a["metadata"]["name"].get<std::string>(), seconds(30));
  REQUIRE_READY(env, r["metadata"]["name"].get<std::string>(), seconds(30));
  auto app_creds = *env.secret(a["spec"]["secretName"].get<std::string>());
  const auto reporting_creds = *env.secret(r["spec"]["secretName"].get<std::string>());
  auto as_app = [&](const std::string& sql) {
    return env.pg.exec_as(app, app_creds.at("password"), db, sql);
  };
  auto as_reporting = [&](const std::string& sql) {
    return env.pg.exec_as(reporting, reporting_creds.at("password"), db, sql);
  };
  const std::string app_work =
    "INSERT INTO orders (item) VALUES ('tea'); "
    "INSERT INTO events (order_id, note) VALUES (currval('orders_id_seq'), 'made'); "
    "INSERT INTO audit (what) VALUES ('order'); "
    "UPDATE orders SET state = 'done' WHERE item = 'nothing'; "
    "SELECT count(*) FROM open_orders; SELECT order_count()";
  CHECK(as_app(app_work) == "");
  CHECK(as_reporting("SELECT count(*) FROM orders, events, audit, open_orders") == "");
  CHECK(as_reporting("INSERT INTO orders (item) VALUES ('x')").find("permission denied")
        != std::string::npos);

  // A second migration: its table is usable at once (default privileges FOR ROLE the migrator).
  {
    const auto out = migrate(alembic, migrator_creds.at("uri"), "head");
    INFO(out);
    REQUIRE(out.empty());
  }
  CHECK(as_app("INSERT INTO invoices (order_id, amount) VALUES (1, 2.5)") == "");
  CHECK(as_reporting("SELECT count(*) FROM invoices") == "");
  CHECK(as_reporting("DELETE FROM invoices").find("permission denied") != std::string::npos);

  // The application's password rotates: the new one does all of it.
  const auto before = app_creds.at("password");
  env.k8s.merge_patch(pguser, env.ns, a["metadata"]["name"].get<std::string>(),
                      {{"metadata", {{"annotations", {{"database.example.com/rotate", "1"}}}}}});
  REQUIRE(wait_until(
    [&] {
      auto s = env.secret(a["spec"]["secretName"].get<std::string>());
      return s && s->at("password") != before;
    },
    seconds(30)));
  app_creds = *env.secret(a["spec"]["secretName"].get<std::string>());
  CHECK(wait_until([&] { return as_app(app_work).empty(); }, seconds(10)));

  // Deleting the reporting user, then the migrator (its objects go to the admin, data kept):
  // the application goes on.
  for (const auto& gone : {r, m}) {
    env.k8s.remove(pguser, env.ns, gone["metadata"]["name"].get<std::string>());
    REQUIRE(env.wait_gone(pguser, gone["metadata"]["name"].get<std::string>(), seconds(30)));
    CHECK(as_app(app_work + "; INSERT INTO invoices (order_id, amount) VALUES (1, 1)") == "");
  }
  CHECK_FALSE(env.pg.role_exists(migrator));
  CHECK_NO_SECRETS_IN_LOG(env);
}
