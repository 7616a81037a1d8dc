#include "pg/sql.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::pg;

TEST_CASE("identifiers are double-quoted with inner quotes doubled") {
  CHECK(sql::quote_ident("myapp") == "\"myapp\"");
  CHECK(sql::quote_ident("x\"; DROP ROLE postgres; --") == "\"x\"\"; DROP ROLE postgres; --\"");
  CHECK(sql::quote_ident("") == "\"\"");
}

TEST_CASE("literals are single-quoted with inner quotes doubled and never use E syntax") {
  CHECK(*sql::quote_literal("abc") == "'abc'");
  CHECK(*sql::quote_literal("Robert'); DROP TABLE t;--") == "'Robert''); DROP TABLE t;--'");
  CHECK(*sql::quote_literal("back\\slash") == "'back\\slash'");
}

TEST_CASE("a literal with a NUL byte is rejected") {
  auto r = sql::quote_literal(std::string("a\0b", 3));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == error_kind::invalid);
}

TEST_CASE("role statements quote the name and the verifier") {
  CHECK(*sql::create_role("myapp", "SCRAM-SHA-256$4096:s$k:v", -1)
        == "CREATE ROLE \"myapp\" LOGIN PASSWORD 'SCRAM-SHA-256$4096:s$k:v' CONNECTION LIMIT -1");
  CHECK(*sql::alter_role_password("my\"app", "v'1")
        == "ALTER ROLE \"my\"\"app\" PASSWORD 'v''1'");
  CHECK(*sql::comment_on_role("myapp", "dbuser-operator:owner=ns/app")
        == "COMMENT ON ROLE \"myapp\" IS 'dbuser-operator:owner=ns/app'");
  CHECK(sql::alter_role_connection_limit("myapp", 5) == "ALTER ROLE \"myapp\" CONNECTION LIMIT 5");
  CHECK(sql::alter_role_attribute("myapp", "NOSUPERUSER") == "ALTER ROLE \"myapp\" NOSUPERUSER");
  CHECK(sql::alter_role_attribute("myapp", "SUPERUSER").empty());
  CHECK(sql::grant_membership("readers", "myapp") == "GRANT \"readers\" TO \"myapp\"");
  CHECK(sql::revoke_membership("readers", "myapp") == "REVOKE \"readers\" FROM \"myapp\"");
  CHECK(sql::reassign_owned("myapp", "postgres") == "REASSIGN OWNED BY \"myapp\" TO \"postgres\"");
  CHECK(sql::drop_owned("myapp") == "DROP OWNED BY \"myapp\"");
  CHECK(sql::drop_role("myapp") == "DROP ROLE IF EXISTS \"myapp\"");
}

TEST_CASE("database and schema statements quote every identifier") {
  CHECK(sql::create_database("myapp_db") == "CREATE DATABASE \"myapp_db\"");
  CHECK(sql::grant_connect("myapp_db", "myapp") == "GRANT CONNECT ON DATABASE \"myapp_db\" TO \"myapp\"");
  CHECK(sql::revoke_connect("myapp_db", "myapp")
        == "REVOKE CONNECT ON DATABASE \"myapp_db\" FROM \"myapp\"");
  CHECK(sql::grant_usage("public", "myapp") == "GRANT USAGE ON SCHEMA \"public\" TO \"myapp\"");
  CHECK(sql::revoke_usage("public", "myapp") == "REVOKE USAGE ON SCHEMA \"public\" FROM \"myapp\"");
}

TEST_CASE("table privilege statements cover all tables and future tables of the admin") {
  const privilege_set p{privilege::select, privilege::insert};
  CHECK(sql::grant_on_all_tables(p, "public", "myapp")
        == "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA \"public\" TO \"myapp\"");
  CHECK(sql::revoke_on_all_tables(privilege_set{privilege::truncate}, "public", "myapp")
        == "REVOKE TRUNCATE ON ALL TABLES IN SCHEMA \"public\" FROM \"myapp\"");
  CHECK(sql::grant_default_privileges("postgres", p, "public", "myapp")
        == "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" GRANT SELECT, "
           "INSERT ON TABLES TO \"myapp\"");
  CHECK(sql::revoke_default_privileges("postgres", p, "public", "myapp")
        == "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" REVOKE SELECT, "
           "INSERT ON TABLES FROM \"myapp\"");
  CHECK(sql::grant_on_all_tables({}, "public", "myapp").empty());
}

TEST_CASE("the admin takes a role's privileges, and from PostgreSQL 16 on never its identity") {
  CHECK(sql::grant_role_privileges_to("my\"app", "admin", 150004)
        == "GRANT \"my\"\"app\" TO \"admin\"");
  CHECK(sql::grant_role_privileges_to("myapp", "admin", 160000)
        == "GRANT \"myapp\" TO \"admin\" WITH INHERIT TRUE, SET FALSE");
}

TEST_CASE("sequence privilege statements cover all sequences and future sequences") {
  const sequence_privilege_set p{sequence_privilege::usage, sequence_privilege::select};
  CHECK(sql::grant_on_all_sequences(p, "app", "myapp")
        == "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA \"app\" TO \"myapp\"");
  CHECK(sql::revoke_on_all_sequences(p, "app", "myapp")
        == "REVOKE USAGE, SELECT ON ALL SEQUENCES IN SCHEMA \"app\" FROM \"myapp\"");
  CHECK(sql::grant_default_sequence_privileges("mig\"r", p, "app", "myapp")
        == "ALTER DEFAULT PRIVILEGES FOR ROLE \"mig\"\"r\" IN SCHEMA \"app\" GRANT USAGE, SELECT "
           "ON SEQUENCES TO \"myapp\"");
  CHECK(sql::revoke_default_sequence_privileges("admin", p, "app", "myapp")
        == "ALTER DEFAULT PRIVILEGES FOR ROLE \"admin\" IN SCHEMA \"app\" REVOKE USAGE, SELECT ON "
           "SEQUENCES FROM \"myapp\"");
  CHECK(sql::grant_on_all_sequences({}, "app", "myapp").empty());
}

TEST_CASE("schema CREATE and routine EXECUTE statements") {
  CHECK(sql::grant_schema_create("app", "g") == "GRANT CREATE ON SCHEMA \"app\" TO \"g\"");
  CHECK(sql::revoke_schema_create("app", "g") == "REVOKE CREATE ON SCHEMA \"app\" FROM \"g\"");
  const function_privilege_set x{function_privilege::execute};
  CHECK(sql::grant_on_all_routines(x, "app", "g")
        == "GRANT EXECUTE ON ALL ROUTINES IN SCHEMA \"app\" TO \"g\"");
  CHECK(sql::revoke_on_all_routines(x, "app", "g")
        == "REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA \"app\" FROM \"g\"");
  CHECK(sql::grant_default_function_privileges("mig", x, "app", "g")
        == "ALTER DEFAULT PRIVILEGES FOR ROLE \"mig\" IN SCHEMA \"app\" GRANT EXECUTE ON FUNCTIONS "
           "TO \"g\"");
  CHECK(sql::revoke_default_function_privileges("mig", x, "app", "g")
        == "ALTER DEFAULT PRIVILEGES FOR ROLE \"mig\" IN SCHEMA \"app\" REVOKE EXECUTE ON "
           "FUNCTIONS FROM \"g\"");
  CHECK(sql::grant_on_all_routines({}, "app", "g").empty());
}
