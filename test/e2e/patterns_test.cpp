// The three-role pattern of docs/patterns.md, end to end, with a real migration tool: Alembic
// (from PyPI, hack/alembic-env.sh) runs as the migrating user, in the schema that user owns, and
// creates tables with serial, bigserial and identity columns, an index, a view, a function and an
// enum type; the application user writes to every table, reads the view and calls the function;
// the reporting user reads and cannot write; a second migration, after the migrator's
// credentials rotated (strategy Alternating), adds a table that both use at once, without the
// operator; the application's password rotates (InPlace); deleting the others leaves it working.
// Label `managed`: the version matrix runs it per PostgreSQL version, as each kind of admin.
#include "test/e2e/support/prelude.hpp"
#include "test/e2e/support/process.hpp"

namespace {

const std::string patterns_dir = std::string(DBUSER_SOURCE_DIR) + "/test/e2e/patterns";
const std::string schema = "shop";

std::string alembic_bin() {
  auto r = run({std::string(DBUSER_SOURCE_DIR) + "/hack/alembic-env.sh"});
  if (!r.ok())
    throw std::runtime_error("hack/alembic-env.sh failed: " + r.err);
  return r.out.substr(0, r.out.find('\n')) + "/bin/alembic";
}

// `alembic upgrade <revision>` as the user whose Secret holds `uri`, in schema `shop`: "" on
// success, else its output.
std::string migrate(const std::string& alembic, const std::string& uri, const std::string& rev) {
  auto r = run({alembic, "-c", patterns_dir + "/alembic.ini", "upgrade", rev}, "",
               {{"PATTERNS_DB_URL", uri}, {"PATTERNS_SCHEMA", schema}});
  return r.ok() ? std::string() : r.out + r.err;
}

// Whether the operator's last two reconciles of `name` changed nothing ("reconciled in ..." lines
// without "(N changes)").
bool settled(const e2e_env& env, const std::string& name) {
  const auto lines = env.op->log_lines_about(env.ns, name, {"reconciled in"});
  return lines.size() >= 3 && lines.back().find(" changes)") == std::string::npos
         && lines[lines.size() - 2].find(" changes)") == std::string::npos;
}

} // namespace

TEST_CASE("a migrating owner, an application and a reporting user: the migration tool's objects "
          "are usable at once, and stay so through rotations and deletions") {
  const auto alembic = alembic_bin();
  e2e_env env;
  const auto db = env.database_name("shop");
  const auto migrator = env.role_name("shop_migrator");
  const auto app = env.role_name("shop_app");
  const auto reporting = env.role_name("shop_reporting");
  auto manifest = [&](const std::string& who, const std::string& role) {
    return env.user_manifest(env.object_name(who), role, db, env.object_name(who + "-creds"));
  };
  auto name_of = [](const json& m) { return m["metadata"]["name"].get<std::string>(); };
  auto secret_of = [&](const json& m) {
    return *env.secret(m["spec"]["secretName"].get<std::string>());
  };
  // The migrator owns schema shop; its objects keep one owner across rotations (Alternating).
  auto m = manifest("migrator", migrator);
  m["spec"]["privileges"] = json::array();
  m["spec"]["ownedSchemas"] = json::array({schema});
  m["spec"]["passwordRotation"] = {{"strategy", "Alternating"}};
  env.apply(m);
  REQUIRE_READY(env, name_of(m), seconds(30));
  auto migrator_creds = secret_of(m);
  {
    const auto out = migrate(alembic, migrator_creds.at("uri"), "0001");
    INFO(out);
    REQUIRE(out.empty());
  }
  auto owner_of = [&](const std::string& relation) {
    auto c = env.pg.admin(db);
    pqxx::nontransaction tx(c);
    return tx.exec1("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = "
                    + tx.quote(schema + "." + relation) + "::regclass")[0]
      .as<std::string>();
  };
  CHECK(owner_of("orders") == migrator);

  // The application and the reporting user: privileges in schema shop, now and on what the
  // migrator creates later.
  auto in_shop = [&](json privileges) {
    return json::array({{{"database", db},
                         {"schema", schema},
                         {"privileges", std::move(privileges)},
                         {"defaultPrivilegesFor", json::array({migrator})}}});
  };
  auto a = manifest("app", app);
  a["spec"]["privileges"] = json::array();
  a["spec"]["grants"] = in_shop(json::array({"SELECT", "INSERT", "UPDATE", "DELETE"}));
  a["spec"]["grants"][0]["functionPrivileges"] = json::array({"EXECUTE"});
  auto r = manifest("reporting", reporting);
  r["spec"]["privileges"] = json::array();
  r["spec"]["grants"] = in_shop(json::array({"SELECT"}));
  env.apply(a);
  env.apply(r);
  REQUIRE_READY(env, name_of(a), seconds(30));
  REQUIRE_READY(env, name_of(r), seconds(30));
  auto app_creds = secret_of(a);
  const auto reporting_creds = secret_of(r);
  const std::string in_schema = "SET search_path TO " + schema + "; ";
  auto as_app = [&](const std::string& sql) {
    return env.pg.exec_as(app, app_creds.at("password"), db, in_schema + sql);
  };
  auto as_reporting = [&](const std::string& sql) {
    return env.pg.exec_as(reporting, reporting_creds.at("password"), db, in_schema + sql);
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
  CHECK(as_app("CREATE TABLE mine (id int)").find("permission denied") != std::string::npos);

  // Converged: later reconciles (resync every 5 s) change nothing, for any of the three.
  for (const auto* who : {&m, &a, &r}) {
    INFO("user " << name_of(*who));
    CHECK(wait_until([&] { return settled(env, name_of(*who)); }, seconds(40)));
  }

  // The migrator's credentials rotate (Alternating: the other login role); the second migration
  // runs with the new ones, and its table is the owner role's, usable at once by both users.
  env.k8s.merge_patch(pguser, env.ns, name_of(m),
                      {{"metadata", {{"annotations", {{"database.example.com/rotate", "1"}}}}}});
  REQUIRE(wait_until(
    [&] {
      auto s = env.secret(m["spec"]["secretName"].get<std::string>());
      return s && s->at("username") != migrator_creds.at("username");
    },
    seconds(30)));
  migrator_creds = secret_of(m);
  {
    const auto out = migrate(alembic, migrator_creds.at("uri"), "head");
    INFO(out);
    REQUIRE(out.empty());
  }
  CHECK(owner_of("invoices") == migrator);
  CHECK(as_app("INSERT INTO invoices (order_id, amount) VALUES (1, 2.5)") == "");
  CHECK(as_reporting("SELECT count(*) FROM invoices") == "");
  CHECK(as_reporting("DELETE FROM invoices").find("permission denied") != std::string::npos);
  // Each sequence's ACL stays small: its owner and the privilege groups.
  {
    auto c = env.pg.admin(db);
    pqxx::nontransaction tx(c);
    CHECK(tx.exec1("SELECT max(cardinality(relacl)) FROM pg_class WHERE relkind = 'S' AND "
                   "relnamespace = " + tx.quote(schema) + "::regnamespace")[0]
            .as<int>()
          <= 3);
  }

  // The application's password rotates (InPlace): the new one does all of it.
  const auto before = app_creds.at("password");
  env.k8s.merge_patch(pguser, env.ns, name_of(a),
                      {{"metadata", {{"annotations", {{"database.example.com/rotate", "1"}}}}}});
  REQUIRE(wait_until(
    [&] {
      auto s = env.secret(a["spec"]["secretName"].get<std::string>());
      return s && s->at("password") != before;
    },
    seconds(30)));
  app_creds = secret_of(a);
  CHECK(wait_until([&] { return as_app(app_work).empty(); }, seconds(10)));

  // Deleting the reporting user, then the migrator (its schema and objects go to the admin, data
  // kept): the application goes on.
  for (const auto& gone : {r, m}) {
    env.k8s.remove(pguser, env.ns, name_of(gone));
    REQUIRE(env.wait_gone(pguser, name_of(gone), seconds(30)));
    CHECK(as_app(app_work + "; INSERT INTO invoices (order_id, amount) VALUES (1, 1)") == "");
  }
  CHECK_FALSE(env.pg.role_exists(migrator));
  CHECK_FALSE(env.pg.role_exists(reporting));
  {
    auto c = env.pg.admin(db);
    pqxx::nontransaction tx(c);
    CHECK(tx.exec1("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = "
                   + tx.quote(schema))[0]
            .as<std::string>()
          == env.admin_user());
    CHECK(tx.exec1("SELECT count(*) FROM " + schema + ".orders")[0].as<int>() >= 1);
  }
  CHECK_NO_SECRETS_IN_LOG(env);
}
