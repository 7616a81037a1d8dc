// Managed PostgreSQL: the admin is not a superuser (LOGIN CREATEROLE CREATEDB, owner of the
// application databases), as on RDS, Cloud SQL, Azure or a DBA's least-privilege role. The whole
// life of a PostgresUser with such an admin, and the refusals that name the right it lacks.
//
// These cases run with the least-privilege admin by default; DBUSER_E2E_ADMIN=superuser runs
// them with the superuser (the version matrix runs both, label `managed`).
#include "test/e2e/support/prelude.hpp"

#include "pg/password.hpp"

namespace {

e2e_options managed_options() {
  e2e_options o;
  o.admin = admin_kind_from_env(admin_kind::least_privilege);
  return o;
}

// Runs `sql` as the admin of the test's postgres-admin Secret (never as the superuser).
void as_admin(const e2e_env& env, const std::string& sql, const std::string& database = "postgres") {
  const auto err = env.pg.exec_as(env.admin_user(), env.admin_password(), database, sql);
  INFO("as " << env.admin_user() << ": " << sql);
  REQUIRE(err.empty());
}

// CREATE ROLE ... LOGIN PASSWORD '<verifier>' (a test sends no plaintext password either).
std::string create_login_role(const std::string& role, const std::string& password) {
  auto verifier = dbuser::pg::scram_verifier(password, role);
  REQUIRE(verifier);
  return "CREATE ROLE " + postgres::ident(role) + " LOGIN PASSWORD '" + *verifier + "'";
}

// CREATE TABLE, then, in the same transaction (before any reconcile could grant anything), check
// what `role` holds on it: what default privileges gave it, and nothing else.
std::string create_table_checking(const std::string& table, const std::string& role,
                                  const std::vector<std::string>& held,
                                  const std::vector<std::string>& not_held) {
  std::string sql = "CREATE TABLE " + table + " (id int); DO $$BEGIN ";
  const std::string who = "'" + role + "'"; // test names: lower snake case
  for (const auto& p : held)
    sql += "IF NOT has_table_privilege(" + who + ", '" + table + "', '" + p
           + "') THEN RAISE EXCEPTION 'default privileges did not give " + p + "'; END IF; ";
  for (const auto& p : not_held)
    sql += "IF has_table_privilege(" + who + ", '" + table + "', '" + p
           + "') THEN RAISE EXCEPTION 'default privileges gave " + p + "'; END IF; ";
  return sql + "END$$";
}

std::vector<std::string> normal_events(const e2e_env& env, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& e : env.k8s.events(env.ns, name, "Normal"))
    out.push_back(e.value("reason", "") + ": " + e.value("message", ""));
  return out;
}

bool any_contains(const std::vector<std::string>& lines, const std::string& what) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(what) != std::string::npos; });
}

} // namespace

TEST_CASE("with a least-privilege admin a PostgresUser is created, used, rotated, repaired and "
          "dropped, its objects kept") {
  e2e_env env(managed_options());
  const auto u = env.names_for("managed");
  const auto group = env.role_name("readers");
  INFO("admin " << env.admin_user() << ", PostgreSQL " << env.pg.major_version());

  // The application database exists, owned by the admin, with a table the admin made.
  as_admin(env, "CREATE DATABASE " + postgres::ident(u.database));
  as_admin(env, "CREATE TABLE public.before (id int PRIMARY KEY, v text); "
                "INSERT INTO public.before VALUES (1, 'kept')", u.database);
  as_admin(env, "CREATE ROLE " + postgres::ident(group));

  auto user = env.user_manifest(u.name, u.username, u.database, u.secret_name);
  user["spec"]["memberOf"] = json::array({group});
  env.apply(user);
  REQUIRE_READY(env, u.name, seconds(30));
  REQUIRE(env.login_with_secret(u.secret_name).empty());
  auto data = *env.secret(u.secret_name);
  auto as_user = [&](const std::string& sql) {
    return env.pg.exec_as(u.username, data["password"], u.database, sql);
  };

  {
    INFO("it reads and writes the table the admin created before, and one created after");
    CHECK(as_user("INSERT INTO public.before VALUES (2, 'b')").empty());
    CHECK(as_user("SELECT * FROM public.before").empty());
    as_admin(env,
             create_table_checking("public.after", u.username,
                                   {"SELECT", "INSERT", "UPDATE", "DELETE"}, {"TRUNCATE"}),
             u.database);
    CHECK(as_user("INSERT INTO public.after VALUES (1)").empty());
    CHECK(as_user("SELECT * FROM public.after").empty());
    CHECK_THAT(as_user("TRUNCATE public.after"), Catch::Contains("permission denied"));
  }
  {
    INFO("it is a member of the group the spec names");
    auto c = env.pg.admin();
    pqxx::nontransaction w(c);
    CHECK(w.exec1("SELECT pg_has_role(" + w.quote(u.username) + ", " + w.quote(group)
                  + ", 'MEMBER')")[0]
            .as<bool>());
  }
  {
    INFO("drift is repaired: a privilege revoked from its privilege group comes back without a "
         "change to the resource");
    // The role holds its privileges through its group: revoking from the role itself changes
    // nothing it can do; revoking from the group is the drift to repair.
    env.pg.exec("REVOKE SELECT ON public.before FROM " + postgres::ident(u.username), u.database);
    CHECK(as_user("SELECT * FROM public.before").empty());
    std::string privilege_group;
    {
      auto c = env.pg.admin();
      pqxx::nontransaction w(c);
      privilege_group = w.exec1("SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON "
                                "g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE "
                                "u.rolname = "
                                + w.quote(u.username)
                                + " AND starts_with(g.rolname, 'dbuser-g-')")[0]
                          .as<std::string>();
    }
    env.pg.exec("REVOKE SELECT ON public.before FROM " + postgres::ident(privilege_group),
                u.database);
    REQUIRE_FALSE(as_user("SELECT * FROM public.before").empty());
    CHECK(wait_until([&] { return as_user("SELECT * FROM public.before").empty(); }, seconds(30),
                     milliseconds(250)));
  }
  {
    INFO("rotation: a new password logs in, the old one no longer does");
    const auto old_password = data["password"];
    env.k8s.merge_patch(pguser, env.ns, u.name,
                        {{"metadata", {{"annotations", {{"database.example.com/rotate", "1"}}}}}});
    REQUIRE(wait_until(
      [&] {
        auto d = env.secret(u.secret_name);
        return d && (*d)["password"] != old_password
               && env.login_with_secret(u.secret_name).empty();
      },
      seconds(30), milliseconds(250)));
    CHECK_FALSE(env.pg.login_error(u.username, old_password, u.database).empty());
    data = *env.secret(u.secret_name);
  }
  // The role owns a table of its own: deletion must hand it to the admin, not drop it.
  as_admin(env, "GRANT CREATE ON SCHEMA public TO " + postgres::ident(u.username), u.database);
  REQUIRE(as_user("CREATE TABLE public.mine (id int); INSERT INTO public.mine VALUES (7)").empty());

  {
    INFO("deletion finishes: role dropped, finalizer gone, the role's table kept by the admin");
    env.k8s.must({"delete", pguser, u.name, "-n", env.ns, "--wait=false"});
    REQUIRE(env.wait_gone(pguser, u.name, seconds(30)));
    CHECK_FALSE(env.pg.role_exists(u.username));
    auto c = env.pg.admin(u.database);
    pqxx::nontransaction w(c);
    CHECK(w.exec1("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = "
                  "'public.mine'::regclass")[0]
            .as<std::string>()
          == env.admin_user());
    CHECK(w.exec1("SELECT count(*) FROM public.mine")[0].as<int>() == 1);
    CHECK(w.exec1("SELECT count(*) FROM public.before")[0].as<int>() == 2);
    const auto events = normal_events(env, u.name);
    INFO("events: " << Catch::Detail::stringify(events));
    CHECK(any_contains(events, "dropped role " + u.username));
    if (env.least_privilege()) {
      INFO("the admin took the role's privileges explicitly, and said so");
      CHECK(any_contains(events, "granted role " + u.username + " to the admin"));
    }
  }
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("an admin without CREATEDB is told so for a missing database, and healed by the grant") {
  e2e_env env(managed_options());
  if (!env.least_privilege()) {
    SUCCEED("a superuser admin always may create a database");
    return;
  }
  const auto admin = env.role_name("nocreatedb");
  const auto admin_password = std::string("pw-") + admin; // test-only credentials
  env.pg.exec(create_login_role(admin, admin_password));
  env.pg.exec("ALTER ROLE " + postgres::ident(admin) + " CREATEROLE");
  env.apply(secret_manifest(env.ns, "narrow-admin",
                            {{"username", admin}, {"password", admin_password}}));
  const auto u = env.names_for("nodb");
  auto user = env.user_manifest(u);
  user["spec"]["adminSecretRef"]["name"] = "narrow-admin";
  env.apply(user);

  REQUIRE_CONDITION(env, u.name, seconds(20), "False", "InsufficientPrivilege");
  const auto state = env.ready(u.name);
  CHECK_THAT(state.message, Catch::Contains("lacks CREATEDB"));
  CHECK_THAT(state.message, Catch::Contains(u.database));
  CHECK(any_contains(env.warnings(u.name), "InsufficientPrivilege: "));
  CHECK_FALSE(env.pg.database_exists(u.database));
  CHECK_FALSE(env.pg.role_exists(u.username));
  CHECK_FALSE(env.k8s.get("secret", env.ns, u.secret_name).has_value());

  // The DBA grants the right; the resource is not touched and heals on its own.
  env.pg.exec("ALTER ROLE " + postgres::ident(admin) + " CREATEDB");
  REQUIRE_READY(env, u.name, seconds(90));
  CHECK(env.pg.database_exists(u.database));
  CHECK(env.login_with_secret(u.secret_name).empty());
}

TEST_CASE("defaultPrivilegesFor covers the tables a migration role creates later, in every "
          "database of the spec") {
  e2e_env env(managed_options());
  const auto name = env.object_name("migrated");
  const auto username = env.role_name("migrated");
  const auto migrator = env.role_name("migrator");
  const auto migrator_password = std::string("pw-") + migrator;
  const auto database = env.database_name("migrated_db");
  const auto second = env.database_name("second_db");
  const auto secret_name = env.object_name("migrated-creds");

  // As a DBA of managed PostgreSQL would: the admin creates the migration role, is a member of
  // it (so it may set default privileges for its tables), and owns both databases.
  as_admin(env, create_login_role(migrator, migrator_password));
  as_admin(env, "GRANT " + postgres::ident(migrator) + " TO " + postgres::ident(env.admin_user()));
  for (const auto& db : {database, second}) {
    as_admin(env, "CREATE DATABASE " + postgres::ident(db));
    as_admin(env, "GRANT CREATE ON SCHEMA public TO " + postgres::ident(migrator), db);
  }
  REQUIRE(env.pg.exec_as(migrator, migrator_password, second,
                         "CREATE TABLE public.old (id int); INSERT INTO public.old VALUES (1)")
            .empty());

  auto user = env.user_manifest(name, username, database, secret_name);
  user["spec"]["defaultPrivilegesFor"] = json::array({migrator});
  user["spec"]["grants"] = json::array(
    {{{"database", second}, {"privileges", {"SELECT"}}, {"defaultPrivilegesFor", {migrator}}}});
  env.apply(user);
  REQUIRE_READY(env, name, seconds(30));
  auto data = *env.secret(secret_name);
  auto as_user = [&](const std::string& db, const std::string& sql) {
    return env.pg.exec_as(username, data["password"], db, sql);
  };
  auto as_migrator = [&](const std::string& db, const std::string& sql) {
    INFO("as " << migrator << ": " << sql);
    REQUIRE(env.pg.exec_as(migrator, migrator_password, db, sql).empty());
  };

  CHECK(as_user(second, "SELECT * FROM public.old").empty()); // existing, owned by the migrator
  as_migrator(database, create_table_checking("public.orders", username,
                                              {"SELECT", "INSERT", "UPDATE", "DELETE"}, {}));
  as_migrator(second, create_table_checking("public.later", username, {"SELECT"}, {"INSERT"}));
  CHECK(as_user(database, "INSERT INTO public.orders VALUES (1)").empty());
  CHECK(as_user(second, "SELECT * FROM public.later").empty());
  // Default privileges only for the listed creator: a table the admin creates gets none (the next
  // reconcile grants on it, as on every existing table of the schema).
  as_admin(env, create_table_checking("public.admins", username, {}, {"SELECT"}), database);
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("with a least-privilege admin, strategy Alternating creates the owner and its login "
          "roles, rotates between them, and deletion drops all three with the objects kept") {
  e2e_env env(managed_options());
  const auto u = env.names_for("alt");
  INFO("admin " << env.admin_user() << ", PostgreSQL " << env.pg.major_version());
  as_admin(env, "CREATE DATABASE " + postgres::ident(u.database));

  auto user = env.user_manifest(u);
  user["spec"]["passwordRotation"] = {{"strategy", "Alternating"}, {"overlap", "1m"}};
  env.apply(user);
  REQUIRE_READY(env, u.name, seconds(30));
  auto first = *env.secret(u.secret_name);
  REQUIRE(first["username"] == u.username + "-a");
  REQUIRE(env.login_with_secret(u.secret_name).empty());
  // The owner may create in public (the admin owns the database); what a login role creates
  // belongs to the owner.
  as_admin(env, "GRANT CREATE ON SCHEMA public TO " + postgres::ident(u.username), u.database);
  REQUIRE(env.pg
            .exec_as(first["username"], first["password"], u.database,
                     "CREATE TABLE public.shared (id int); INSERT INTO public.shared VALUES (1)")
            .empty());

  env.k8s.merge_patch(pguser, env.ns, u.name,
                      {{"metadata", {{"annotations", {{"database.example.com/rotate", "1"}}}}}});
  std::map<std::string, std::string> second;
  REQUIRE(wait_until(
    [&] {
      auto d = env.secret(u.secret_name);
      if (!d || (*d)["password"] == first["password"]
          || d->count("dbuser-operator.internal.pending-password") != 0)
        return false;
      second = *d;
      return true;
    },
    seconds(30), milliseconds(250)));
  CHECK(second["username"] == u.username + "-b");
  CHECK(env.login_with_secret(u.secret_name).empty());
  // Within the overlap the first credentials still log in.
  CHECK(env.pg.login_error(first["username"], first["password"], u.database).empty());
  CHECK(env.pg
          .exec_as(second["username"], second["password"], u.database,
                   "INSERT INTO public.shared VALUES (2); SELECT * FROM public.shared")
          .empty());
  {
    auto c = env.pg.admin(u.database);
    pqxx::nontransaction w(c);
    CHECK(w.exec1("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = "
                  "'public.shared'::regclass")[0]
            .as<std::string>()
          == u.username);
  }

  env.k8s.must({"delete", pguser, u.name, "-n", env.ns, "--wait=false"});
  REQUIRE(env.wait_gone(pguser, u.name, seconds(30)));
  for (const auto& r : {u.username, u.username + "-a", u.username + "-b"})
    CHECK_FALSE(env.pg.role_exists(r));
  auto c = env.pg.admin(u.database);
  pqxx::nontransaction w(c);
  CHECK(w.exec1("SELECT count(*) FROM public.shared")[0].as<int>() == 2);
  CHECK_NO_SECRETS_IN_LOG(env);
}
