// PostgreSQL roles as resources (issue 35): app_readonly and app_readwrite declared as
// PostgresRoles; users join them through memberOf. What a member can do follows the role's spec
// with no change to the users; a privilege granted by hand to the role is revoked at the next
// resync; deleting a role that users still join waits for them (RoleInUse, the members listed),
// then drops it; a role of that name that the operator did not make is refused untouched.
// Label `managed`: the version matrix runs it per PostgreSQL version, as each kind of admin.
#include "test/e2e/support/prelude.hpp"

namespace {

constexpr const char* pgrole = "postgresroles.database.example.com";

json role_manifest(const e2e_env& env, const std::string& name, const std::string& role,
                   const std::string& db, json privileges) {
  return env.manifest("PostgresRole", name,
                      {{"roleName", role},
                       {"database", db},
                       {"host", "127.0.0.1"},
                       {"port", env.pg.port()},
                       {"adminSecretRef", {{"name", admin_secret_name}}},
                       {"privileges", std::move(privileges)}});
}

// The PostgresRole's Ready condition: status, reason and message ("" when it has none).
ready_state role_ready(const e2e_env& env, const std::string& name) {
  return env.ready_of(pgrole, name);
}

bool denied(const std::string& error) { return error.find("permission denied") != std::string::npos; }

} // namespace

TEST_CASE("users join PostgresRoles: members can do what the role's spec says, drift on the role "
          "is repaired, a role in use is not dropped, and a foreign role is refused untouched") {
  e2e_env env;
  const auto db = env.database_name("roles_db");
  const auto admin = postgres::ident(env.admin_user());
  env.pg.exec("CREATE DATABASE " + postgres::ident(db) + " OWNER " + admin);
  env.pg.exec("SET ROLE " + admin + "; CREATE TABLE public.items (id serial PRIMARY KEY, v text)",
              db);
  const auto ro = env.role_name("app_readonly");
  const auto rw = env.role_name("app_readwrite");
  const auto ro_name = env.object_name("readonly");
  const auto rw_name = env.object_name("readwrite");
  // Users naming them may come first: they wait for the roles, then join.
  struct member {
    std::string name, role, joins;
  };
  const std::vector<member> members = {{env.object_name("reader"), env.role_name("reader"), ro},
                                       {env.object_name("writer"), env.role_name("writer"), rw},
                                       {env.object_name("writer2"), env.role_name("writer2"), rw}};
  auto user_of = [&](const member& m, json member_of) {
    auto u = env.user_manifest(m.name, m.role, db, m.name + "-creds");
    u["spec"]["privileges"] = json::array(); // everything comes from the role it joins
    u["spec"]["memberOf"] = std::move(member_of);
    return u;
  };
  for (const auto& m : members)
    env.apply(user_of(m, json::array({m.joins})));
  REQUIRE_CONDITION(env, members[0].name, seconds(30), "False", "WaitingForRole");
  CHECK_FALSE(env.pg.role_exists(members[0].role)); // nothing done while it waits
  env.apply(role_manifest(env, ro_name, ro, db, json::array({"SELECT"})));
  env.apply(role_manifest(env, rw_name, rw, db, json::array({"SELECT", "INSERT", "UPDATE", "DELETE"})));
  for (const auto& name : {ro_name, rw_name}) {
    INFO("PostgresRole " << name);
    CHECK(wait_until([&] { return role_ready(env, name).status == "True"; }, seconds(30)));
  }
  for (const auto& m : members)
    REQUIRE_READY(env, m.name, seconds(30));
  std::map<std::string, std::string> password;
  for (const auto& m : members)
    password[m.role] = env.secret(m.name + "-creds")->at("password");
  auto as = [&](const member& m, const std::string& sql) {
    return env.pg.exec_as(m.role, password[m.role], db, sql);
  };
  const auto& reader = members[0];
  const auto& writer = members[1];
  const auto& writer2 = members[2];
  CHECK(as(writer, "INSERT INTO items (v) VALUES ('a')") == "");
  CHECK(as(writer2, "INSERT INTO items (v) VALUES ('b'); UPDATE items SET v = 'c'") == "");
  for (const auto& m : members)
    CHECK(as(m, "SELECT count(*) FROM items") == "");
  CHECK(denied(as(reader, "INSERT INTO items (v) VALUES ('x')")));
  {
    // The role is one grantee, whatever its members: a table's ACL stays small.
    auto c = env.pg.admin(db);
    pqxx::nontransaction tx(c);
    CHECK(tx.exec1("SELECT cardinality(relacl) FROM pg_class WHERE relname = 'items'")[0].as<int>()
          <= 3);
    // NOLOGIN, marked as the PostgresRole's.
    auto r = tx.exec1("SELECT rolcanlogin, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE "
                      "rolname = " + tx.quote(ro));
    CHECK_FALSE(r[0].as<bool>());
    CHECK(r[1].as<std::string>().find("PostgresRole " + env.ns + "/" + ro_name)
          != std::string::npos);
  }

  // The role's privileges change: its member can do it, and no user changed.
  const auto reader_generation = env.user(reader.name)->value("/metadata/generation"_json_pointer, 0);
  env.apply(role_manifest(env, ro_name, ro, db, json::array({"SELECT", "INSERT"})));
  CHECK(wait_until([&] { return as(reader, "INSERT INTO items (v) VALUES ('r')").empty(); },
                   seconds(30)));
  CHECK(env.user(reader.name)->value("/metadata/generation"_json_pointer, 0) == reader_generation);

  // Drift: DELETE granted by hand to the role goes at the next resync (every 5 s here).
  env.pg.exec("GRANT DELETE ON public.items TO " + postgres::ident(ro), db);
  CHECK(wait_until([&] { return denied(as(reader, "DELETE FROM items WHERE v = 'none'")); },
                   seconds(30)));

  // Deleting a role its users still join: it waits for them, naming them.
  env.k8s.remove(pgrole, env.ns, rw_name);
  CHECK(wait_until(
    [&] {
      auto s = role_ready(env, rw_name);
      return s.reason == "RoleInUse" && s.message.find(writer.role) != std::string::npos
             && s.message.find(writer2.role) != std::string::npos;
    },
    seconds(30)));
  CHECK(env.pg.role_exists(rw));
  CHECK(as(writer, "INSERT INTO items (v) VALUES ('still')") == "");
  // Once they leave it, it goes.
  env.apply(user_of(writer, json::array()));
  env.apply(user_of(writer2, json::array()));
  CHECK(env.wait_gone(pgrole, rw_name, seconds(30)));
  CHECK_FALSE(env.pg.role_exists(rw));
  CHECK(denied(as(writer, "INSERT INTO items (v) VALUES ('gone')")));

  // A role of that name the operator did not make: refused, never touched.
  const auto foreign = env.role_name("foreign_role");
  env.pg.exec("CREATE ROLE " + postgres::ident(foreign) + " NOLOGIN");
  const auto foreign_name = env.object_name("foreign");
  env.apply(role_manifest(env, foreign_name, foreign, db, json::array({"SELECT"})));
  CHECK(wait_until([&] { return role_ready(env, foreign_name).reason == "RoleConflict"; },
                   seconds(30)));
  {
    auto c = env.pg.admin();
    pqxx::nontransaction tx(c);
    CHECK(tx.exec1("SELECT shobj_description(oid, 'pg_authid') IS NULL FROM pg_roles WHERE "
                   "rolname = " + tx.quote(foreign))[0]
            .as<bool>());
  }
  env.k8s.remove(pgrole, env.ns, foreign_name);
  CHECK(env.wait_gone(pgrole, foreign_name, seconds(30)));
  CHECK(env.pg.role_exists(foreign));
  env.pg.drop_role_everywhere(foreign);
  // The rest goes, users first (a role waits for its members).
  for (const auto& m : members)
    env.k8s.remove(pguser, env.ns, m.name);
  env.k8s.remove(pgrole, env.ns, ro_name);
  for (const auto& m : members)
    CHECK(env.wait_gone(pguser, m.name, seconds(30)));
  CHECK(env.wait_gone(pgrole, ro_name, seconds(30)));
  CHECK_FALSE(env.pg.role_exists(ro));
  CHECK_NO_SECRETS_IN_LOG(env);
}
