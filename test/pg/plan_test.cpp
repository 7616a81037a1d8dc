#include "pg/plan.hpp"
#include "test/support/engine_checks.hpp"

#include <algorithm>

#include <catch2/catch.hpp>

using namespace dbuser::pg;
using dbuser::test::sqls;

namespace {

desired_role app() {
  desired_role d;
  d.name = "myapp";
  d.marker = owner_marker("default/app-user");
  d.grants.push_back(
    grant_scope{"myapp_db", "public", privilege_set{privilege::select, privilege::insert}, true});
  d.verifier = "SCRAM-SHA-256$4096:s$k:v";
  d.use_groups = false; // granted directly, as a privilege group is (groups: below)
  return d;
}

// What observe would report once `d` is converged.
observed_state converged(const desired_role& d) {
  observed_state o;
  o.role.exists = true;
  o.role.login = true;
  o.role.connection_limit = d.connection_limit;
  o.role.comment = d.marker;
  o.role.member_of = d.member_of;
  for (const auto& g : d.grants) {
    o.databases.push_back(observed_database{g.database, true, true});
    observed_schema s;
    s.database = g.database;
    s.schema = g.schema;
    s.usage = true;
    s.tables = 2;
    s.on_every_table = g.privileges;
    s.on_some_table = g.privileges;
    s.defaults["postgres"] = g.privileges;
    s.sequences = 1;
    s.on_every_sequence = g.sequences();
    s.on_some_sequence = g.sequences();
    s.sequence_defaults["postgres"] = g.sequences();
    o.schemas.push_back(s);
  }
  return o;
}

} // namespace

TEST_CASE("a new role is planned from database to default privileges") {
  observed_state nothing;
  auto p = plan(app(), nothing, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{
          "CREATE DATABASE \"myapp_db\"",
          "CREATE ROLE \"myapp\" LOGIN PASSWORD 'SCRAM-SHA-256$4096:s$k:v' CONNECTION LIMIT -1",
          "COMMENT ON ROLE \"myapp\" IS 'dbuser-operator:owner=default/app-user'",
          "GRANT CONNECT ON DATABASE \"myapp_db\" TO \"myapp\"",
          "GRANT USAGE ON SCHEMA \"public\" TO \"myapp\"",
          "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA \"public\" TO \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" GRANT SELECT, "
          "INSERT ON TABLES TO \"myapp\"",
          "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA \"public\" TO \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" GRANT USAGE, "
          "SELECT ON SEQUENCES TO \"myapp\"",
        });
  CHECK((*p)[0].outside_transaction);
  CHECK((*p)[1].sensitive);
  CHECK((*p)[1].description == "created role myapp");
  CHECK((*p)[5].description == "granted SELECT, INSERT on myapp_db.public");
  CHECK((*p)[5].context == "while granting SELECT, INSERT on myapp_db.public to myapp");
  CHECK((*p)[4].database == "myapp_db");
  CHECK((*p)[1].database.empty());
}

TEST_CASE("a converged role plans nothing") {
  auto d = app();
  d.member_of = {"readers"};
  d.grants.push_back(grant_scope{"other_db", "reports", privilege_set{privilege::select}, false});
  auto p = plan(d, converged(d), "postgres");
  REQUIRE(p);
  CHECK(p->empty());
}

TEST_CASE("a missing role without a verifier is an error") {
  auto d = app();
  d.verifier.clear();
  auto p = plan(d, observed_state{}, "postgres");
  REQUIRE_FALSE(p);
  CHECK(p.error().kind == error_kind::invalid);
}

TEST_CASE("a missing database that may not be created is an error") {
  auto d = app();
  d.grants[0].create_database = false;
  auto p = plan(d, observed_state{}, "postgres");
  REQUIRE_FALSE(p);
  CHECK_THAT(p.error().message, Catch::Contains("myapp_db does not exist"));
}

TEST_CASE("shrinking the privilege list revokes the removed ones now and for future tables") {
  auto d = app();
  auto o = converged(d);
  d.grants[0].privileges = privilege_set{privilege::select};
  auto p = plan(d, o, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{
          "REVOKE INSERT ON ALL TABLES IN SCHEMA \"public\" FROM \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" REVOKE INSERT ON "
          "TABLES FROM \"myapp\"",
          // INSERT's USAGE on the sequences goes with it
          "REVOKE USAGE ON ALL SEQUENCES IN SCHEMA \"public\" FROM \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" REVOKE USAGE ON "
          "SEQUENCES FROM \"myapp\"",
        });
  CHECK((*p)[0].description == "revoked INSERT on myapp_db.public");
}

TEST_CASE("a table that misses a privilege gets it granted on all tables again") {
  auto d = app();
  auto o = converged(d);
  o.schemas[0].on_every_table = privilege_set{privilege::select};
  auto p = plan(d, o, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{
          "GRANT INSERT ON ALL TABLES IN SCHEMA \"public\" TO \"myapp\""});
}

TEST_CASE("drifted attributes are repaired one by one") {
  auto d = app();
  d.connection_limit = 5;
  auto o = converged(app());
  o.role.superuser = true;
  o.role.login = false;
  o.role.comment = std::nullopt;
  auto p = plan(d, o, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{
          "ALTER ROLE \"myapp\" LOGIN",
          "ALTER ROLE \"myapp\" NOSUPERUSER",
          "ALTER ROLE \"myapp\" CONNECTION LIMIT 5",
          "COMMENT ON ROLE \"myapp\" IS 'dbuser-operator:owner=default/app-user'",
        });
}

TEST_CASE("memberships and a second database converge added and removed") {
  auto d = app();
  auto o = converged(d);
  o.role.member_of = {"old_group"};
  o.databases.push_back(observed_database{"old_db", true, true});
  observed_schema old;
  old.database = "old_db";
  old.schema = "public";
  old.usage = true;
  old.on_some_table = privilege_set{privilege::select};
  old.defaults["postgres"] = privilege_set{privilege::select};
  o.schemas.push_back(old);
  d.member_of = {"new_group"};
  d.grants.push_back(grant_scope{"new_db", "public", privilege_set{privilege::update}, false});
  o.databases.push_back(observed_database{"new_db", true, false});
  auto p = plan(d, o, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{
          "GRANT \"new_group\" TO \"myapp\"",
          "REVOKE \"old_group\" FROM \"myapp\"",
          "GRANT CONNECT ON DATABASE \"new_db\" TO \"myapp\"",
          "GRANT USAGE ON SCHEMA \"public\" TO \"myapp\"",
          "GRANT UPDATE ON ALL TABLES IN SCHEMA \"public\" TO \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" GRANT UPDATE ON "
          "TABLES TO \"myapp\"",
          "GRANT UPDATE ON ALL SEQUENCES IN SCHEMA \"public\" TO \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" GRANT UPDATE ON "
          "SEQUENCES TO \"myapp\"",
          "REVOKE SELECT ON ALL TABLES IN SCHEMA \"public\" FROM \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" REVOKE SELECT ON "
          "TABLES FROM \"myapp\"",
          "REVOKE USAGE ON SCHEMA \"public\" FROM \"myapp\"",
          "REVOKE CONNECT ON DATABASE \"old_db\" FROM \"myapp\"",
        });
  CHECK((*p)[3].database == "new_db");
  CHECK((*p)[7].database == "new_db");
  CHECK((*p)[8].database == "old_db");
}

TEST_CASE("a role without our marker is unmanaged and another marker names its owner") {
  observed_role r;
  CHECK(ownership_of(r, "ns/a").state == ownership::absent);
  r.exists = true;
  CHECK(ownership_of(r, "ns/a").state == ownership::unmanaged);
  r.comment = "created by hand";
  CHECK(ownership_of(r, "ns/a").state == ownership::unmanaged);
  r.comment = owner_marker("ns/a");
  CHECK(ownership_of(r, "ns/a").state == ownership::ours);
  auto other = ownership_of(r, "ns/b");
  CHECK(other.state == ownership::owned_by_other);
  CHECK(other.owner == "ns/a");
  CHECK(*r.comment == "dbuser-operator:owner=ns/a");
}

TEST_CASE("future tables of other creators get default privileges for each, the admin's revoked") {
  auto d = app();
  d.grants[0].default_creators = {"app_migrator", "etl"};
  auto o = converged(app()); // default privileges held for the admin's tables only
  auto p = plan(d, o, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"app_migrator\" IN SCHEMA \"public\" GRANT SELECT, "
          "INSERT ON TABLES TO \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"etl\" IN SCHEMA \"public\" GRANT SELECT, INSERT ON "
          "TABLES TO \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" REVOKE SELECT, "
          "INSERT ON TABLES FROM \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"app_migrator\" IN SCHEMA \"public\" GRANT USAGE, "
          "SELECT ON SEQUENCES TO \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"etl\" IN SCHEMA \"public\" GRANT USAGE, SELECT ON "
          "SEQUENCES TO \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" REVOKE USAGE, "
          "SELECT ON SEQUENCES FROM \"myapp\"",
        });
  // Refused for another creator, the message names the membership the admin needs.
  CHECK_THAT((*p)[0].if_denied, Catch::Contains("GRANT \"app_migrator\" TO \"postgres\""));
  CHECK((*p)[2].if_denied.empty());
  // Once held, nothing more to do.
  auto held = o;
  held.schemas[0].defaults.clear();
  held.schemas[0].defaults["app_migrator"] = d.grants[0].privileges;
  held.schemas[0].defaults["etl"] = d.grants[0].privileges;
  held.schemas[0].sequence_defaults.clear();
  held.schemas[0].sequence_defaults["app_migrator"] = d.grants[0].sequences();
  held.schemas[0].sequence_defaults["etl"] = d.grants[0].sequences();
  auto again = plan(d, held, "postgres");
  REQUIRE(again);
  CHECK(again->empty());
}

TEST_CASE("USAGE that PUBLIC holds on the schema is not granted to the role again") {
  auto d = app();
  auto o = converged(d);
  o.schemas[0].usage = false;
  o.schemas[0].usage_via_public = true;
  auto p = plan(d, o, "postgres");
  REQUIRE(p);
  CHECK(p->empty());
  o.schemas[0].usage_via_public = false; // PUBLIC's USAGE revoked by the DBA: granted to the role
  p = plan(d, o, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p) == std::vector<std::string>{"GRANT USAGE ON SCHEMA \"public\" TO \"myapp\""});
}

TEST_CASE("statements a least-privilege admin may be refused name the right it lacks") {
  auto p = plan(app(), observed_state{}, "dbuser_admin");
  REQUIRE(p);
  CHECK_THAT((*p)[0].if_denied, Catch::Contains("lacks CREATEDB: create database myapp_db"));
  CHECK_THAT((*p)[1].if_denied, Catch::Contains("lacks CREATEROLE"));
  auto d = app();
  d.member_of = {"readers"};
  auto m = plan(d, converged(app()), "postgres");
  REQUIRE(m);
  REQUIRE(m->size() == 1);
  CHECK_THAT(m->front().if_denied, Catch::Contains("ADMIN OPTION"));
}

namespace {

// `d` with strategy Alternating's roles: the owner keeps its mode, the login roles get theirs.
desired_role with_logins(desired_role d, login_mode owner, login_mode a, login_mode b) {
  d.login = owner;
  d.logins = {login_role{"myapp-a", a}, login_role{"myapp-b", b}};
  return d;
}

observed_login converged_login(const desired_role& d, const std::string& name, bool login) {
  observed_login l;
  l.name = name;
  l.role.exists = true;
  l.role.login = login;
  l.role.connection_limit = d.connection_limit;
  l.role.comment = d.marker;
  l.role.member_of = {d.name};
  l.role.config = {"role=" + d.name};
  return l;
}

} // namespace

TEST_CASE("Alternating: a new user is a NOLOGIN owner and a login role that acts as it") {
  auto d = with_logins(app(), login_mode::disabled, login_mode::active, login_mode::disabled);
  observed_state nothing;
  nothing.logins = {observed_login{"myapp-a", {}}, observed_login{"myapp-b", {}}};
  auto p = plan(d, nothing, "postgres");
  REQUIRE(p);
  const auto s = sqls(*p);
  REQUIRE(s.size() >= 7);
  CHECK(s[1] == "CREATE ROLE \"myapp\" NOLOGIN CONNECTION LIMIT -1");
  CHECK(s[2] == "COMMENT ON ROLE \"myapp\" IS 'dbuser-operator:owner=default/app-user'");
  CHECK(s[3]
        == "CREATE ROLE \"myapp-a\" LOGIN PASSWORD 'SCRAM-SHA-256$4096:s$k:v' CONNECTION LIMIT -1");
  CHECK(s[4] == "COMMENT ON ROLE \"myapp-a\" IS 'dbuser-operator:owner=default/app-user'");
  CHECK(s[5] == "GRANT \"myapp\" TO \"myapp-a\"");
  CHECK(s[6] == "ALTER ROLE \"myapp-a\" SET role = 'myapp'");
  // The verifier appears only in the login role's CREATE, which is marked sensitive.
  for (const auto& a : *p)
    CHECK(a.sensitive == (a.sql.find("SCRAM-SHA-256$") != std::string::npos));
  // Privileges go to the owner only.
  for (const auto& sql : s)
    if (sql.rfind("GRANT SELECT", 0) == 0 || sql.rfind("GRANT CONNECT", 0) == 0)
      CHECK(sql.find("\"myapp-a\"") == std::string::npos);
}

TEST_CASE("Alternating: converged roles plan nothing; a rotation sets the other role's password "
          "and keeps the current one") {
  auto d = with_logins(app(), login_mode::disabled, login_mode::active, login_mode::disabled);
  auto o = converged(d);
  o.role.login = false;
  o.logins = {converged_login(d, "myapp-a", true), converged_login(d, "myapp-b", false)};
  auto none = plan(d, o, "postgres");
  REQUIRE(none);
  CHECK(none->empty());

  auto rotate = with_logins(app(), login_mode::disabled, login_mode::keep, login_mode::active);
  rotate.set_password = true;
  auto p = plan(rotate, o, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{"ALTER ROLE \"myapp-b\" LOGIN",
                                    "ALTER ROLE \"myapp-b\" PASSWORD 'SCRAM-SHA-256$4096:s$k:v'"});
  CHECK((*p)[1].sensitive);
}

TEST_CASE("Alternating: a role whose overlap ended is disabled, the owner too after a switch") {
  auto d = with_logins(app(), login_mode::disabled, login_mode::disabled, login_mode::active);
  auto o = converged(d); // the owner still logs in (it was the previous credentials)
  o.logins = {converged_login(d, "myapp-a", true), converged_login(d, "myapp-b", true)};
  auto p = plan(d, o, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{"ALTER ROLE \"myapp\" NOLOGIN PASSWORD NULL",
                                    "ALTER ROLE \"myapp-a\" NOLOGIN PASSWORD NULL"});
}

TEST_CASE("Alternating: a login role name held by a role that is not ours is refused, and never "
          "touched when it is not needed") {
  auto d = with_logins(app(), login_mode::disabled, login_mode::active, login_mode::disabled);
  auto o = converged(d);
  o.role.login = false;
  auto foreign = converged_login(d, "myapp-a", true);
  foreign.role.comment.reset();
  o.logins = {foreign, converged_login(d, "myapp-b", true)};
  auto refused = plan(d, o, "postgres");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("role myapp-a already exists and is not a login role") == 0);

  // Disabled: ours are disabled, a foreign one left alone.
  auto other = with_logins(app(), login_mode::disabled, login_mode::disabled, login_mode::active);
  o.logins = {foreign, converged_login(d, "myapp-b", true)};
  auto p = plan(other, o, "postgres");
  REQUIRE(p);
  for (const auto& sql : sqls(*p))
    CHECK(sql.find("\"myapp-a\"") == std::string::npos);
}

TEST_CASE("Alternating: a login role that drifted (another membership, no SET role, LOGIN lost "
          "while active) is repaired") {
  auto d = with_logins(app(), login_mode::disabled, login_mode::active, login_mode::disabled);
  auto o = converged(d);
  o.role.login = false;
  auto a = converged_login(d, "myapp-a", false);
  a.role.member_of = {"myapp", "pg_read_all_data"};
  a.role.config.clear();
  o.logins = {a, converged_login(d, "myapp-b", false)};
  auto p = plan(d, o, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{"ALTER ROLE \"myapp-a\" LOGIN",
                                    "REVOKE \"pg_read_all_data\" FROM \"myapp-a\"",
                                    "ALTER ROLE \"myapp-a\" SET role = 'myapp'"});
}

TEST_CASE("sequences follow the table privileges: INSERT needs USAGE, SELECT SELECT, UPDATE UPDATE") {
  CHECK(sequences_for(privilege_set{privilege::insert})
        == sequence_privilege_set{sequence_privilege::usage});
  CHECK(sequences_for(privilege_set{privilege::select, privilege::update})
        == sequence_privilege_set{sequence_privilege::select, sequence_privilege::update});
  CHECK(sequences_for(privilege_set{privilege::delete_, privilege::truncate}).empty());
  CHECK(sequences_for(privilege_set::all()) == sequence_privilege_set::all());
}

TEST_CASE("explicit sequence privileges override the derived ones, and shrinking revokes") {
  auto d = app();
  auto held = converged(d); // USAGE, SELECT on every sequence, now and for the admin's future ones
  d.grants[0].sequence_privileges = sequence_privilege_set{sequence_privilege::usage};
  auto p = plan(d, held, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{
          "REVOKE SELECT ON ALL SEQUENCES IN SCHEMA \"public\" FROM \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" REVOKE SELECT ON "
          "SEQUENCES FROM \"myapp\"",
        });
  CHECK((*p)[0].description == "revoked SELECT on the sequences of myapp_db.public");
  CHECK((*p)[1].description == "revoked SELECT on future sequences of myapp_db.public");
}

TEST_CASE("a sequence created after the role is granted at the next converge") {
  auto d = app();
  auto held = converged(d);
  held.schemas[0].sequences = 2; // one more, which holds nothing for the role yet
  held.schemas[0].on_every_sequence = {};
  auto p = plan(d, held, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{
          "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA \"public\" TO \"myapp\""});
}

TEST_CASE("a schema no longer wanted loses its sequence privileges too") {
  auto d = app();
  auto held = converged(d);
  d.grants[0].privileges = {};
  auto p = plan(d, held, "postgres");
  REQUIRE(p);
  const auto s = sqls(*p);
  CHECK(std::find(s.begin(), s.end(),
                  "REVOKE USAGE, SELECT ON ALL SEQUENCES IN SCHEMA \"public\" FROM \"myapp\"")
        != s.end());
}

TEST_CASE("a predefined role is refused on a server older than the version that has it") {
  auto d = app();
  d.member_of = {"pg_read_all_data"};
  observed_state o;
  o.server_version_num = 130012;
  auto p = plan(d, o, "postgres");
  REQUIRE_FALSE(p);
  CHECK(p.error().kind == error_kind::invalid);
  CHECK_THAT(p.error().message, Catch::Contains("PostgreSQL has it from 14 on"));
  o.server_version_num = 140000;
  auto ok = plan(d, o, "postgres");
  REQUIRE(ok);
  const auto statements = sqls(*ok);
  CHECK(std::find(statements.begin(), statements.end(),
                  "GRANT \"pg_read_all_data\" TO \"myapp\"")
        != statements.end());
  d.member_of = {"pg_monitor"};
  o.server_version_num = 130012;
  CHECK(plan(d, o, "postgres"));
}

TEST_CASE("CREATE on the schema and EXECUTE on routines are granted, and revoked when dropped "
          "from the spec") {
  auto d = app();
  auto held = converged(d);
  d.grants[0].schema_privileges = schema_privilege_set{schema_privilege::create};
  d.grants[0].function_privileges = function_privilege_set{function_privilege::execute};
  held.schemas[0].functions = 1;
  auto p = plan(d, held, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{
          "GRANT EXECUTE ON ALL ROUTINES IN SCHEMA \"public\" TO \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" GRANT EXECUTE ON "
          "FUNCTIONS TO \"myapp\"",
          "GRANT CREATE ON SCHEMA \"public\" TO \"myapp\"",
        });
  CHECK((*p)[0].description == "granted EXECUTE on the functions of myapp_db.public");
  CHECK((*p)[2].description == "granted CREATE on schema myapp_db.public");
  // Held, then no longer wanted.
  held.schemas[0].create = true;
  held.schemas[0].on_every_function = d.grants[0].function_privileges;
  held.schemas[0].on_some_function = d.grants[0].function_privileges;
  held.schemas[0].function_defaults["postgres"] = d.grants[0].function_privileges;
  CHECK(plan(d, held, "postgres")->empty());
  d.grants[0].schema_privileges = {};
  d.grants[0].function_privileges = {};
  auto shrink = plan(d, held, "postgres");
  REQUIRE(shrink);
  CHECK(sqls(*shrink)
        == std::vector<std::string>{
          "REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA \"public\" FROM \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" REVOKE EXECUTE ON "
          "FUNCTIONS FROM \"myapp\"",
          "REVOKE CREATE ON SCHEMA \"public\" FROM \"myapp\"",
        });
}

TEST_CASE("a database and schemas asked for are made the role's: the admin acts as the role once, "
          "hands over its own database and creates the missing schemas") {
  auto d = app();
  d.owns_database = true;
  d.owned_schemas = {"app", "audit"};
  auto held = converged(d);
  held.server_version_num = 160004;
  held.ownership.database_owner = "postgres";
  held.ownership.schema_owners["audit"] = "myapp";
  auto p = plan(d, held, "postgres");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{
          "GRANT \"myapp\" TO \"postgres\" WITH INHERIT TRUE, SET TRUE",
          "ALTER DATABASE \"myapp_db\" OWNER TO \"myapp\"",
          "CREATE SCHEMA IF NOT EXISTS \"app\" AUTHORIZATION \"myapp\"",
        });
  CHECK((*p)[2].database == "myapp_db");
  CHECK((*p)[1].description == "made role myapp the owner of database myapp_db");
  // Before 16: membership alone; an admin that acts as the role already takes nothing.
  held.server_version_num = 150004;
  CHECK(sqls(*plan(d, held, "postgres")).front() == "GRANT \"myapp\" TO \"postgres\"");
  held.ownership.admin_acts_as_role = true;
  CHECK(sqls(*plan(d, held, "postgres")).front() == "ALTER DATABASE \"myapp_db\" OWNER TO \"myapp\"");
  // Converged: nothing (a second reconcile changes nothing).
  held.ownership.database_owner = "myapp";
  held.ownership.schema_owners["app"] = "myapp";
  CHECK(plan(d, held, "postgres")->empty());
}

TEST_CASE("another role's database or schema is refused untouched, and so is the admin's database "
          "that holds other roles' objects") {
  auto d = app();
  d.owns_database = true;
  observed_state o; // the role does not exist yet: nothing may be created either
  o.ownership.database_owner = "billing";
  auto p = plan(d, o, "admin");
  REQUIRE_FALSE(p);
  CHECK(p.error().kind == error_kind::conflict);
  CHECK_THAT(p.error().message,
             Catch::StartsWith("database myapp_db is owned by role billing: refusing to take it "
                               "over for myapp"));
  o.ownership.database_owner = "admin";
  o.ownership.foreign_objects = 3;
  p = plan(d, o, "admin");
  REQUIRE_FALSE(p);
  CHECK_THAT(p.error().message,
             Catch::StartsWith("database myapp_db holds 3 objects owned by roles other than the "
                               "admin admin and myapp"));
  d.owns_database = false;
  d.owned_schemas = {"app"};
  o.ownership.schema_owners["app"] = "billing";
  p = plan(d, o, "admin");
  REQUIRE_FALSE(p);
  CHECK_THAT(p.error().message, Catch::StartsWith("schema myapp_db.app is owned by role billing"));
  // A missing database is created by the admin first, then handed over.
  d.owns_database = true;
  d.owned_schemas.clear();
  o.ownership = {};
  auto created = plan(d, o, "admin");
  REQUIRE(created);
  const auto statements = sqls(*created);
  const auto create = std::find(statements.begin(), statements.end(), "CREATE DATABASE \"myapp_db\"");
  const auto hand = std::find(statements.begin(), statements.end(),
                              "ALTER DATABASE \"myapp_db\" OWNER TO \"myapp\"");
  REQUIRE(create != statements.end());
  REQUIRE(hand != statements.end());
  CHECK(create < hand);
}
