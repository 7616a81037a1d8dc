#include "pg/groups.hpp"

#include "pg/validation.hpp"
#include "test/support/engine_checks.hpp"

#include <catch2/catch.hpp>

#include <regex>

using namespace dbuser::pg;
using dbuser::test::sqls;

namespace {

grant_scope scope(std::string db, privilege_set p, std::vector<std::string> creators = {}) {
  return grant_scope{std::move(db), "public", p, true, std::move(creators)};
}

desired_role user(std::vector<grant_scope> grants) {
  desired_role d;
  d.name = "myapp";
  d.marker = owner_marker("default/app-user");
  d.grants = std::move(grants);
  d.verifier = "SCRAM-SHA-256$4096:s$k:v";
  return d;
}

const privilege_set siud{privilege::select, privilege::insert, privilege::update,
                         privilege::delete_};

} // namespace

TEST_CASE("a group name is deterministic, readable, at most 63 bytes and never a valid username") {
  auto g = group_for(scope("myapp_db", siud), "postgres");
  CHECK(g.name == group_for(scope("myapp_db", siud), "postgres").name);
  CHECK_THAT(g.name, Catch::StartsWith("dbuser-g-myapp_db_public_siud-"));
  CHECK(g.name.size() == std::string("dbuser-g-myapp_db_public_siud-").size() + 10);
  CHECK(g.marker == "dbuser-operator:group=database=myapp_db;schema=public;privileges=SELECT, "
                    "INSERT, UPDATE, DELETE");
  CHECK_FALSE(validate_role_name(g.name, "postgres"));
  CHECK_FALSE(std::regex_match(g.name, std::regex("^[a-z_][a-z0-9_]*$")));
  CHECK(is_group_name(g.name));
  CHECK_FALSE(is_group_name("myapp"));
  const std::string long_db(63, 'D');
  auto l = group_for(scope(long_db, privilege_set::all()), "postgres");
  CHECK(l.name.size() == 63);
  CHECK(group_database(l.marker) == long_db);
  CHECK_FALSE(group_database(owner_marker("default/x")));
}

TEST_CASE("groups differ by database, schema, privilege set and non-admin creators") {
  const auto base = group_for(scope("db", siud), "admin").name;
  CHECK(group_for(scope("db2", siud), "admin").name != base);
  CHECK(group_for(scope("db", privilege_set{privilege::select}), "admin").name != base);
  auto other_schema = scope("db", siud);
  other_schema.schema = "reports";
  CHECK(group_for(other_schema, "admin").name != base);
  CHECK(group_for(scope("db", siud, {"admin"}), "admin").name == base);
  auto with_migrator = group_for(scope("db", siud, {"migrator", "admin"}), "admin");
  CHECK(with_migrator.name != base);
  CHECK(with_migrator.scope.default_creators == std::vector<std::string>{"admin", "migrator"});
  CHECK(group_for(scope("db", siud, {"admin", "migrator"}), "admin").name == with_migrator.name);
}

TEST_CASE("grants on one schema merge into one group") {
  auto d = user({scope("db", privilege_set{privilege::select}),
                 scope("db", privilege_set{privilege::insert}), scope("db2", {})});
  auto gs = privilege_groups(d, "admin");
  REQUIRE(gs.size() == 2);
  CHECK(gs[0].scope.privileges == privilege_set({privilege::select, privilege::insert}));
  CHECK_THAT(gs[1].name, Catch::StartsWith("dbuser-g-db2_public_none-"));
  auto role = group_role(gs[0]);
  CHECK(role.login == login_mode::disabled);
  CHECK_FALSE(role.use_groups);
  CHECK(role.marker == gs[0].marker);
}

TEST_CASE("a group role is created NOLOGIN with its marker and holds the grants itself") {
  auto g = group_for(scope("db", privilege_set{privilege::select}), "admin");
  auto p = plan(group_role(g), observed_state{}, "admin");
  REQUIRE(p);
  const auto q = "\"" + g.name + "\"";
  CHECK(sqls(*p) == std::vector<std::string>{
                      "CREATE DATABASE \"db\"",
                      "CREATE ROLE " + q + " NOLOGIN CONNECTION LIMIT -1",
                      "COMMENT ON ROLE " + q + " IS '" + g.marker + "'",
                      "GRANT CONNECT ON DATABASE \"db\" TO " + q,
                      "GRANT USAGE ON SCHEMA \"public\" TO " + q,
                      "GRANT SELECT ON ALL TABLES IN SCHEMA \"public\" TO " + q,
                      "ALTER DEFAULT PRIVILEGES FOR ROLE \"admin\" IN SCHEMA \"public\" GRANT "
                      "SELECT ON TABLES TO "
                        + q,
                      "GRANT SELECT ON ALL SEQUENCES IN SCHEMA \"public\" TO " + q,
                      "ALTER DEFAULT PRIVILEGES FOR ROLE \"admin\" IN SCHEMA \"public\" GRANT "
                      "SELECT ON SEQUENCES TO "
                        + q,
                    });
  CHECK_FALSE((*p)[1].sensitive);
}

TEST_CASE("a new role through groups is only made a member, in the group's database, with "
          "INHERIT TRUE, SET FALSE from PostgreSQL 16") {
  auto d = user({scope("db", privilege_set{privilege::select})});
  const auto g = privilege_groups(d, "admin").at(0).name;
  observed_state nothing;
  nothing.server_version_num = 160004;
  auto p = plan(d, nothing, "admin");
  REQUIRE(p);
  REQUIRE(p->size() == 3);
  CHECK_THAT((*p)[0].sql, Catch::StartsWith("CREATE ROLE \"myapp\" LOGIN"));
  CHECK((*p)[2].sql == "GRANT \"" + g + "\" TO \"myapp\" WITH INHERIT TRUE, SET FALSE");
  CHECK((*p)[2].database == "db");
  nothing.server_version_num = 150005;
  CHECK(plan(d, nothing, "admin")->at(2).sql == "GRANT \"" + g + "\" TO \"myapp\"");
}

TEST_CASE("an existing install migrates: membership first, then the direct grants revoked") {
  auto d = user({scope("db", privilege_set{privilege::select})});
  const auto g = privilege_groups(d, "admin").at(0).name;
  observed_state o; // what the direct grants of earlier versions left
  o.server_version_num = 150005;
  o.role.exists = true;
  o.role.login = true;
  o.role.comment = d.marker;
  o.databases.push_back(observed_database{"db", true, true});
  observed_schema s;
  s.database = "db";
  s.schema = "public";
  s.usage_via_public = true;
  s.tables = 1;
  s.on_every_table = privilege_set{privilege::select};
  s.on_some_table = privilege_set{privilege::select};
  s.defaults["admin"] = privilege_set{privilege::select};
  o.schemas.push_back(s);
  auto p = plan(d, o, "admin");
  REQUIRE(p);
  CHECK(sqls(*p)
        == std::vector<std::string>{
          "GRANT \"" + g + "\" TO \"myapp\"",
          "REVOKE SELECT ON ALL TABLES IN SCHEMA \"public\" FROM \"myapp\"",
          "ALTER DEFAULT PRIVILEGES FOR ROLE \"admin\" IN SCHEMA \"public\" REVOKE SELECT ON "
          "TABLES FROM \"myapp\"",
          "REVOKE CONNECT ON DATABASE \"db\" FROM \"myapp\"",
        });

  SECTION("once migrated it plans nothing") {
    observed_state done;
    done.server_version_num = 150005;
    done.role = o.role;
    done.role.groups = {g};
    CHECK(plan(d, done, "admin")->empty());
  }
  SECTION("a privilege change joins the new group before it leaves the old one") {
    observed_state done;
    done.role = o.role;
    done.role.groups = {g};
    d.grants[0].privileges = siud;
    const auto g2 = privilege_groups(d, "admin").at(0).name;
    auto moved = plan(d, done, "admin");
    REQUIRE(moved);
    CHECK(sqls(*moved) == std::vector<std::string>{"GRANT \"" + g2 + "\" TO \"myapp\"",
                                                   "REVOKE \"" + g + "\" FROM \"myapp\""});
  }
}

TEST_CASE("a PostgreSQL limit error is its own permanent kind with a message that says what to do") {
  auto e = sql_error("54000", "row is too big: size 8168, maximum size 8160", "while granting");
  CHECK(e.kind == error_kind::limit);
  CHECK_FALSE(e.transient());
  CHECK_THAT(e.message, Catch::Contains("row is too big") && Catch::Contains("2,440")
                          && Catch::Contains("privilege groups"));
  CHECK(kind_of_sqlstate("54001") == error_kind::limit);
  CHECK_THAT(sql_error("54001", "stack depth limit exceeded", "").message,
             Catch::Contains("Retrying will not help"));
}

TEST_CASE("a group keeps its name when its sequence privileges are the derived ones") {
  const auto base = group_for(scope("db", siud), "admin");
  auto derived = scope("db", siud);
  derived.sequence_privileges = sequences_for(siud); // written out, the same set
  CHECK(group_for(derived, "admin").name == base.name);
  CHECK(group_for(derived, "admin").marker == base.marker);
  auto usage_only = scope("db", siud);
  usage_only.sequence_privileges = sequence_privilege_set{sequence_privilege::usage};
  const auto other = group_for(usage_only, "admin");
  CHECK(other.name != base.name);
  CHECK_THAT(other.marker, Catch::EndsWith(";sequences=USAGE"));
  CHECK(other.scope.sequences() == sequence_privilege_set{sequence_privilege::usage});
  auto none = scope("db", siud);
  none.sequence_privileges = sequence_privilege_set{};
  CHECK_THAT(group_for(none, "admin").marker, Catch::EndsWith(";sequences=none"));
}

TEST_CASE("merged grants of one schema unite their sequence privileges") {
  auto a = scope("db", privilege_set{privilege::select});
  a.sequence_privileges = sequence_privilege_set{};
  auto b = scope("db", privilege_set{privilege::insert});
  auto groups = privilege_groups(user({a, b}), "admin");
  REQUIRE(groups.size() == 1);
  // a: none, b: USAGE (derived from INSERT); together USAGE, not the SELECT that SELECT implies.
  CHECK(groups[0].scope.sequences() == sequence_privilege_set{sequence_privilege::usage});
  CHECK_THAT(groups[0].marker, Catch::EndsWith(";sequences=USAGE"));
}

TEST_CASE("CREATE on the schema and EXECUTE on routines are part of a group's key") {
  const auto base = group_for(scope("db", siud), "admin");
  auto creates = scope("db", siud);
  creates.schema_privileges = schema_privilege_set{schema_privilege::create};
  auto usage_only = scope("db", siud);
  usage_only.schema_privileges = schema_privilege_set{schema_privilege::usage};
  auto executes = scope("db", siud);
  executes.function_privileges = function_privilege_set{function_privilege::execute};
  CHECK(group_for(usage_only, "admin").name == base.name); // USAGE is always there
  CHECK_THAT(group_for(creates, "admin").marker, Catch::EndsWith(";schema-privileges=CREATE"));
  CHECK_THAT(group_for(executes, "admin").marker, Catch::EndsWith(";functions=EXECUTE"));
  CHECK(group_for(creates, "admin").name != base.name);
  CHECK(group_for(executes, "admin").name != base.name);
  CHECK(group_for(executes, "admin").name != group_for(creates, "admin").name);
  auto merged = privilege_groups(user({creates, executes}), "admin");
  REQUIRE(merged.size() == 1);
  CHECK(merged[0].scope.schema_privileges.contains(schema_privilege::create));
  CHECK(merged[0].scope.function_privileges.contains(function_privilege::execute));
}
