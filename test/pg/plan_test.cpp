#include "pg/plan.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::pg;

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
    o.schemas.push_back(s);
  }
  return o;
}

std::vector<std::string> sqls(const std::vector<action>& as) {
  std::vector<std::string> out;
  for (const auto& a : as)
    out.push_back(a.sql);
  return out;
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
          "REVOKE SELECT ON ALL TABLES IN SCHEMA \"public\" FROM \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" REVOKE SELECT ON "
          "TABLES FROM \"myapp\"",
          "REVOKE USAGE ON SCHEMA \"public\" FROM \"myapp\"",
          "REVOKE CONNECT ON DATABASE \"old_db\" FROM \"myapp\"",
        });
  CHECK((*p)[3].database == "new_db");
  CHECK((*p)[6].database == "old_db");
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
        });
  // Refused for another creator, the message names the membership the admin needs.
  CHECK_THAT((*p)[0].if_denied, Catch::Contains("GRANT \"app_migrator\" TO \"postgres\""));
  CHECK((*p)[2].if_denied.empty());
  // Once held, nothing more to do.
  auto held = o;
  held.schemas[0].defaults.clear();
  held.schemas[0].defaults["app_migrator"] = d.grants[0].privileges;
  held.schemas[0].defaults["etl"] = d.grants[0].privileges;
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
