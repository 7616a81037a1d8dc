#pragma once

// Pure SQL builders. Every identifier goes through quote_ident (the same result as libpqxx's
// quote_name / PQescapeIdentifier), every literal through quote_literal, privileges come from the
// closed privilege_set. Utility statements (CREATE/ALTER ROLE, GRANT) take no bind parameters,
// which is why quoting is done here; they are tested as exact strings.
//
// Literals assume standard_conforming_strings = on, which every connection of the executor sets.
// Only SCRAM verifiers are ever put in a PASSWORD clause, never a plaintext password.

#include "pg/error.hpp"
#include "pg/privileges.hpp"

#include <string>
#include <string_view>

namespace dbuser::pg::sql {

// "name" with inner double quotes doubled. Never fails: any byte string becomes one identifier.
[[nodiscard]] std::string quote_ident(std::string_view name);
// 'text' with inner single quotes doubled (never E'' syntax). A NUL byte is an `invalid` error.
[[nodiscard]] result<std::string> quote_literal(std::string_view text);

// Roles (cluster-wide).
// CREATE ROLE "r" LOGIN PASSWORD '<verifier>' CONNECTION LIMIT n
[[nodiscard]] result<std::string> create_role(std::string_view role, std::string_view verifier,
                                              int connection_limit);
// CREATE ROLE "r" NOLOGIN CONNECTION LIMIT n (an owner role that holds privileges and objects,
// a privilege group of pg/groups.hpp)
[[nodiscard]] std::string create_role_nologin(std::string_view role, int connection_limit);
// ALTER ROLE "r" NOLOGIN PASSWORD NULL: nobody logs in as it any more ("password
// authentication failed"); its sessions, objects and memberships stay.
[[nodiscard]] std::string disable_login(std::string_view role);
// ALTER ROLE "r" SET role = '<target>': its sessions start as `target` (current_user), so what
// they create is owned by it. The admin need not be a member of target (PostgreSQL only notices).
[[nodiscard]] result<std::string> alter_role_set_role(std::string_view role,
                                                      std::string_view target);
// ALTER ROLE "r" PASSWORD '<verifier>'
[[nodiscard]] result<std::string> alter_role_password(std::string_view role,
                                                      std::string_view verifier);
// COMMENT ON ROLE "r" IS '<marker>'
[[nodiscard]] result<std::string> comment_on_role(std::string_view role, std::string_view marker);
// ALTER ROLE "r" CONNECTION LIMIT n
[[nodiscard]] std::string alter_role_connection_limit(std::string_view role, int limit);
// ALTER ROLE "r" <attribute>, attribute one of LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
// NOREPLICATION NOBYPASSRLS NOLOGIN (anything else yields an empty string).
[[nodiscard]] std::string alter_role_attribute(std::string_view role, std::string_view attribute);
// GRANT "group" TO "r" / REVOKE "group" FROM "r"
[[nodiscard]] std::string grant_membership(std::string_view group, std::string_view role);
[[nodiscard]] std::string revoke_membership(std::string_view group, std::string_view role);
// Membership in a privilege group: GRANT "g" TO "r" before PostgreSQL 16; from 16 on
// GRANT "g" TO "r" WITH INHERIT TRUE, SET FALSE (its privileges, never its identity: a member
// cannot create objects owned by the group).
[[nodiscard]] std::string grant_group_membership(std::string_view group, std::string_view role,
                                                 int server_version_num);
// The membership a non-superuser admin needs to act on a role's objects (REASSIGN/DROP OWNED
// check that it has the role's privileges): GRANT "r" TO "admin" before PostgreSQL 16, and from
// 16 on (server_version_num >= 160000) GRANT "r" TO "admin" WITH INHERIT TRUE, SET FALSE — the
// privileges, never the identity.
[[nodiscard]] std::string grant_role_privileges_to(std::string_view role, std::string_view admin,
                                                   int server_version_num);
// What lets the admin make "r" the owner of a database or schema (CREATE SCHEMA ... AUTHORIZATION,
// ALTER DATABASE ... OWNER TO need SET ROLE to it from 16 on, membership before) and grant on
// what "r" owns (its privileges): GRANT "r" TO "admin" before 16; from 16 on GRANT "r" TO "admin"
// WITH INHERIT TRUE, SET TRUE.
[[nodiscard]] std::string grant_role_to_admin(std::string_view role, std::string_view admin,
                                              int server_version_num);
// REASSIGN OWNED BY "r" TO "admin" / DROP OWNED BY "r" / DROP ROLE IF EXISTS "r"
[[nodiscard]] std::string reassign_owned(std::string_view role, std::string_view new_owner);
[[nodiscard]] std::string drop_owned(std::string_view role);
[[nodiscard]] std::string drop_role(std::string_view role);

// Databases and schemas.
// CREATE DATABASE "db" (must run outside a transaction)
[[nodiscard]] std::string create_database(std::string_view database);
// ALTER DATABASE "db" OWNER TO "r"
[[nodiscard]] std::string alter_database_owner(std::string_view database, std::string_view role);
// CREATE SCHEMA IF NOT EXISTS "s" AUTHORIZATION "r"
[[nodiscard]] std::string create_owned_schema(std::string_view schema, std::string_view role);
// GRANT CONNECT ON DATABASE "db" TO "r" / REVOKE CONNECT ON DATABASE "db" FROM "r"
[[nodiscard]] std::string grant_connect(std::string_view database, std::string_view role);
[[nodiscard]] std::string revoke_connect(std::string_view database, std::string_view role);
// GRANT USAGE ON SCHEMA "s" TO "r" / REVOKE USAGE ON SCHEMA "s" FROM "r"
[[nodiscard]] std::string grant_usage(std::string_view schema, std::string_view role);
[[nodiscard]] std::string revoke_usage(std::string_view schema, std::string_view role);

// Tables. Empty sets yield an empty string (nothing to do).
// GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA "s" TO "r"
[[nodiscard]] std::string grant_on_all_tables(privilege_set privileges, std::string_view schema,
                                              std::string_view role);
// REVOKE SELECT ON ALL TABLES IN SCHEMA "s" FROM "r"
[[nodiscard]] std::string revoke_on_all_tables(privilege_set privileges, std::string_view schema,
                                               std::string_view role);
// ALTER DEFAULT PRIVILEGES FOR ROLE "admin" IN SCHEMA "s" GRANT SELECT ON TABLES TO "r"
[[nodiscard]] std::string grant_default_privileges(std::string_view creator, privilege_set privileges,
                                                   std::string_view schema, std::string_view role);
// ALTER DEFAULT PRIVILEGES FOR ROLE "admin" IN SCHEMA "s" REVOKE SELECT ON TABLES FROM "r"
[[nodiscard]] std::string revoke_default_privileges(std::string_view creator,
                                                    privilege_set privileges,
                                                    std::string_view schema,
                                                    std::string_view role);

// Sequences, likewise. Empty sets yield an empty string.
// GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "s" TO "r" / REVOKE ... FROM "r"
[[nodiscard]] std::string grant_on_all_sequences(sequence_privilege_set privileges,
                                                 std::string_view schema, std::string_view role);
[[nodiscard]] std::string revoke_on_all_sequences(sequence_privilege_set privileges,
                                                  std::string_view schema, std::string_view role);
// ALTER DEFAULT PRIVILEGES FOR ROLE "c" IN SCHEMA "s" GRANT USAGE ON SEQUENCES TO "r" / REVOKE
[[nodiscard]] std::string grant_default_sequence_privileges(std::string_view creator,
                                                            sequence_privilege_set privileges,
                                                            std::string_view schema,
                                                            std::string_view role);
[[nodiscard]] std::string revoke_default_sequence_privileges(std::string_view creator,
                                                             sequence_privilege_set privileges,
                                                             std::string_view schema,
                                                             std::string_view role);

// GRANT CREATE ON SCHEMA "s" TO "r" / REVOKE CREATE ON SCHEMA "s" FROM "r"
[[nodiscard]] std::string grant_schema_create(std::string_view schema, std::string_view role);
[[nodiscard]] std::string revoke_schema_create(std::string_view schema, std::string_view role);

// Functions and procedures. Empty sets yield an empty string.
// GRANT EXECUTE ON ALL ROUTINES IN SCHEMA "s" TO "r" / REVOKE ... FROM "r"
[[nodiscard]] std::string grant_on_all_routines(function_privilege_set privileges,
                                                std::string_view schema, std::string_view role);
[[nodiscard]] std::string revoke_on_all_routines(function_privilege_set privileges,
                                                 std::string_view schema, std::string_view role);
// ALTER DEFAULT PRIVILEGES FOR ROLE "c" IN SCHEMA "s" GRANT EXECUTE ON FUNCTIONS TO "r" / REVOKE
// (FUNCTIONS covers procedures too)
[[nodiscard]] std::string grant_default_function_privileges(std::string_view creator,
                                                            function_privilege_set privileges,
                                                            std::string_view schema,
                                                            std::string_view role);
[[nodiscard]] std::string revoke_default_function_privileges(std::string_view creator,
                                                             function_privilege_set privileges,
                                                             std::string_view schema,
                                                             std::string_view role);

} // namespace dbuser::pg::sql
