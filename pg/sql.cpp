#include "pg/sql.hpp"

#include "common/quote.hpp"

namespace dbuser::pg::sql {

std::string quote_ident(std::string_view name) { return quote_doubled(name, '"'); }

result<std::string> quote_literal(std::string_view text) {
  if (text.find('\0') != std::string_view::npos)
    return make_unexpected(make_error(error_kind::invalid, "a literal may not contain a NUL byte"));
  return quote_doubled(text, '\'');
}

result<std::string> create_role(std::string_view role, std::string_view verifier,
                                int connection_limit) {
  auto lit = quote_literal(verifier);
  if (!lit)
    return make_unexpected(lit.error());
  return "CREATE ROLE " + quote_ident(role) + " LOGIN PASSWORD " + *lit + " CONNECTION LIMIT "
         + std::to_string(connection_limit);
}

std::string create_role_nologin(std::string_view role, int connection_limit) {
  return "CREATE ROLE " + quote_ident(role) + " NOLOGIN CONNECTION LIMIT "
         + std::to_string(connection_limit);
}

std::string disable_login(std::string_view role) {
  return "ALTER ROLE " + quote_ident(role) + " NOLOGIN PASSWORD NULL";
}

result<std::string> alter_role_set_role(std::string_view role, std::string_view target) {
  auto lit = quote_literal(target);
  if (!lit)
    return make_unexpected(lit.error());
  return "ALTER ROLE " + quote_ident(role) + " SET role = " + *lit;
}

result<std::string> alter_role_password(std::string_view role, std::string_view verifier) {
  auto lit = quote_literal(verifier);
  if (!lit)
    return make_unexpected(lit.error());
  return "ALTER ROLE " + quote_ident(role) + " PASSWORD " + *lit;
}

result<std::string> comment_on_role(std::string_view role, std::string_view marker) {
  auto lit = quote_literal(marker);
  if (!lit)
    return make_unexpected(lit.error());
  return "COMMENT ON ROLE " + quote_ident(role) + " IS " + *lit;
}

std::string alter_role_connection_limit(std::string_view role, int limit) {
  return "ALTER ROLE " + quote_ident(role) + " CONNECTION LIMIT " + std::to_string(limit);
}

std::string alter_role_attribute(std::string_view role, std::string_view attribute) {
  for (const char* allowed :
       {"LOGIN", "NOLOGIN", "NOSUPERUSER", "NOCREATEDB", "NOCREATEROLE", "NOREPLICATION", "NOBYPASSRLS"})
    if (attribute == allowed)
      return "ALTER ROLE " + quote_ident(role) + " " + allowed;
  return {};
}

std::string grant_membership(std::string_view group, std::string_view role) {
  return "GRANT " + quote_ident(group) + " TO " + quote_ident(role);
}

std::string grant_group_membership(std::string_view group, std::string_view role,
                                   int server_version_num) {
  return "GRANT " + quote_ident(group) + " TO " + quote_ident(role)
         + (server_version_num >= 160000 ? " WITH INHERIT TRUE, SET FALSE" : "");
}

std::string grant_role_privileges_to(std::string_view role, std::string_view admin,
                                     int server_version_num) {
  return grant_group_membership(role, admin, server_version_num); // the same grant
}

std::string grant_role_to_admin(std::string_view role, std::string_view admin,
                                int server_version_num) {
  return "GRANT " + quote_ident(role) + " TO " + quote_ident(admin)
         + (server_version_num >= 160000 ? " WITH INHERIT TRUE, SET TRUE" : "");
}

std::string revoke_membership(std::string_view group, std::string_view role) {
  return "REVOKE " + quote_ident(group) + " FROM " + quote_ident(role);
}

std::string reassign_owned(std::string_view role, std::string_view new_owner) {
  return "REASSIGN OWNED BY " + quote_ident(role) + " TO " + quote_ident(new_owner);
}

std::string drop_owned(std::string_view role) { return "DROP OWNED BY " + quote_ident(role); }

std::string drop_role(std::string_view role) { return "DROP ROLE IF EXISTS " + quote_ident(role); }

std::string create_database(std::string_view database) {
  return "CREATE DATABASE " + quote_ident(database);
}

std::string alter_database_owner(std::string_view database, std::string_view role) {
  return "ALTER DATABASE " + quote_ident(database) + " OWNER TO " + quote_ident(role);
}

std::string create_owned_schema(std::string_view schema, std::string_view role) {
  return "CREATE SCHEMA IF NOT EXISTS " + quote_ident(schema) + " AUTHORIZATION "
         + quote_ident(role);
}

std::string grant_connect(std::string_view database, std::string_view role) {
  return "GRANT CONNECT ON DATABASE " + quote_ident(database) + " TO " + quote_ident(role);
}

std::string revoke_connect(std::string_view database, std::string_view role) {
  return "REVOKE CONNECT ON DATABASE " + quote_ident(database) + " FROM " + quote_ident(role);
}

std::string grant_usage(std::string_view schema, std::string_view role) {
  return "GRANT USAGE ON SCHEMA " + quote_ident(schema) + " TO " + quote_ident(role);
}

std::string revoke_usage(std::string_view schema, std::string_view role) {
  return "REVOKE USAGE ON SCHEMA " + quote_ident(schema) + " FROM " + quote_ident(role);
}

namespace {

// GRANT <p> ON ALL <objects> IN SCHEMA "s" TO "r" / REVOKE ... FROM "r"; "" when p is empty.
std::string on_all(bool grant, const std::string& privileges, const char* objects,
                   std::string_view schema, std::string_view role) {
  if (privileges.empty())
    return {};
  return std::string(grant ? "GRANT " : "REVOKE ") + privileges + " ON ALL " + objects
         + " IN SCHEMA " + quote_ident(schema) + (grant ? " TO " : " FROM ") + quote_ident(role);
}

// ALTER DEFAULT PRIVILEGES FOR ROLE "c" IN SCHEMA "s" GRANT <p> ON <objects> TO "r" (REVOKE ...
// FROM "r"); "" when p is empty.
std::string on_future(bool grant, std::string_view creator, const std::string& privileges,
                      const char* objects, std::string_view schema, std::string_view role) {
  if (privileges.empty())
    return {};
  return "ALTER DEFAULT PRIVILEGES FOR ROLE " + quote_ident(creator) + " IN SCHEMA "
         + quote_ident(schema) + (grant ? " GRANT " : " REVOKE ") + privileges + " ON " + objects
         + (grant ? " TO " : " FROM ") + quote_ident(role);
}

} // namespace

std::string grant_on_all_tables(privilege_set privileges, std::string_view schema,
                                std::string_view role) {
  return on_all(true, privileges.to_string(), "TABLES", schema, role);
}

std::string revoke_on_all_tables(privilege_set privileges, std::string_view schema,
                                 std::string_view role) {
  return on_all(false, privileges.to_string(), "TABLES", schema, role);
}

std::string grant_default_privileges(std::string_view creator, privilege_set privileges,
                                     std::string_view schema, std::string_view role) {
  return on_future(true, creator, privileges.to_string(), "TABLES", schema, role);
}

std::string revoke_default_privileges(std::string_view creator, privilege_set privileges,
                                      std::string_view schema, std::string_view role) {
  return on_future(false, creator, privileges.to_string(), "TABLES", schema, role);
}

std::string grant_on_all_sequences(sequence_privilege_set privileges, std::string_view schema,
                                   std::string_view role) {
  return on_all(true, privileges.to_string(), "SEQUENCES", schema, role);
}

std::string revoke_on_all_sequences(sequence_privilege_set privileges, std::string_view schema,
                                    std::string_view role) {
  return on_all(false, privileges.to_string(), "SEQUENCES", schema, role);
}

std::string grant_default_sequence_privileges(std::string_view creator,
                                              sequence_privilege_set privileges,
                                              std::string_view schema, std::string_view role) {
  return on_future(true, creator, privileges.to_string(), "SEQUENCES", schema, role);
}

std::string revoke_default_sequence_privileges(std::string_view creator,
                                               sequence_privilege_set privileges,
                                               std::string_view schema, std::string_view role) {
  return on_future(false, creator, privileges.to_string(), "SEQUENCES", schema, role);
}

std::string grant_schema_create(std::string_view schema, std::string_view role) {
  return "GRANT CREATE ON SCHEMA " + quote_ident(schema) + " TO " + quote_ident(role);
}

std::string revoke_schema_create(std::string_view schema, std::string_view role) {
  return "REVOKE CREATE ON SCHEMA " + quote_ident(schema) + " FROM " + quote_ident(role);
}

std::string grant_on_all_routines(function_privilege_set privileges, std::string_view schema,
                                  std::string_view role) {
  return on_all(true, privileges.to_string(), "ROUTINES", schema, role);
}

std::string revoke_on_all_routines(function_privilege_set privileges, std::string_view schema,
                                   std::string_view role) {
  return on_all(false, privileges.to_string(), "ROUTINES", schema, role);
}

std::string grant_default_function_privileges(std::string_view creator,
                                              function_privilege_set privileges,
                                              std::string_view schema, std::string_view role) {
  return on_future(true, creator, privileges.to_string(), "FUNCTIONS", schema, role);
}

std::string revoke_default_function_privileges(std::string_view creator,
                                               function_privilege_set privileges,
                                               std::string_view schema, std::string_view role) {
  return on_future(false, creator, privileges.to_string(), "FUNCTIONS", schema, role);
}

} // namespace dbuser::pg::sql
