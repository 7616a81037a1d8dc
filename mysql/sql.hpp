#pragma once

// Pure SQL builders for MariaDB/MySQL. Identifiers go through quote_ident (backticks, inner
// backticks doubled), account names and other strings through quote_literal, privileges come from
// the closed privilege_set. Account management statements take no bind parameters, which is why
// quoting is done here; they are tested as exact strings.
//
// Literals do not depend on sql_mode: a single quote is doubled (valid with and without
// NO_BACKSLASH_ESCAPES) and a backslash or NUL byte is refused, since its meaning would change
// with NO_BACKSLASH_ESCAPES. Validated names never contain either.
//
// Passwords: only mysql_native_password hashes (password.hpp) are put in a statement, as
// `IDENTIFIED WITH mysql_native_password AS '*HEX'` — the form both MariaDB 10.4+ (where WITH/AS
// are synonyms of VIA/USING) and MySQL 5.7/8.0 accept; MySQL 8 no longer parses
// `IDENTIFIED BY PASSWORD`.
//
// Database-level grants: in GRANT/REVOKE ... ON `db`.*, `_` and `%` are wildcards. The builders
// take a *pattern* (database_pattern(name) escapes them: `app\_db`), which is also how the server
// stores and reports the grant (information_schema.SCHEMA_PRIVILEGES.TABLE_SCHEMA).

#include "mysql/error.hpp"
#include "mysql/privileges.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace dbuser::mysql::sql {

// `name` with inner backticks doubled. Never fails.
[[nodiscard]] std::string quote_ident(std::string_view name);
// 'text' with inner single quotes doubled. A backslash or NUL byte is an `invalid` error.
[[nodiscard]] result<std::string> quote_literal(std::string_view text);
// 'user'@'host' (each part through quote_literal).
[[nodiscard]] result<std::string> account(std::string_view user, std::string_view host);
// The grant pattern of a database name: `_`, `%` and `\` escaped with a backslash.
[[nodiscard]] std::string database_pattern(std::string_view database);

// Accounts. `hash` must be a mysql_native_password hash ("*" + 40 hex digits), else `invalid`.
// CREATE USER 'u'@'h' IDENTIFIED WITH mysql_native_password AS '*HEX' WITH MAX_USER_CONNECTIONS n
[[nodiscard]] result<std::string> create_user(std::string_view user, std::string_view host,
                                              std::string_view hash, int max_user_connections);
// ALTER USER 'u'@'h' IDENTIFIED WITH mysql_native_password AS '*HEX'
[[nodiscard]] result<std::string> alter_user_password(std::string_view user,
                                                      std::string_view host,
                                                      std::string_view hash);
// ALTER USER 'u'@'h' WITH MAX_USER_CONNECTIONS n (0: no limit)
[[nodiscard]] result<std::string> alter_user_max_connections(std::string_view user,
                                                             std::string_view host, int limit);
// DROP USER IF EXISTS 'u'@'h'
[[nodiscard]] result<std::string> drop_user(std::string_view user, std::string_view host);
// REVOKE ALL PRIVILEGES ON *.* FROM 'u'@'h' (global privileges only) /
// REVOKE GRANT OPTION ON *.* FROM 'u'@'h'
[[nodiscard]] result<std::string> revoke_global_privileges(std::string_view user,
                                                           std::string_view host);
[[nodiscard]] result<std::string> revoke_global_grant_option(std::string_view user,
                                                             std::string_view host);

// Databases. CREATE DATABASE IF NOT EXISTS `db` (never dropped).
[[nodiscard]] std::string create_database(std::string_view database);

// Database-level privileges on `pattern`.* (see database_pattern). Empty sets yield "".
// GRANT SELECT, INSERT ON `app\_db`.* TO 'u'@'h'
[[nodiscard]] result<std::string> grant_on_database(privilege_set privileges,
                                                    std::string_view pattern,
                                                    std::string_view user, std::string_view host);
// REVOKE SELECT ON `app\_db`.* FROM 'u'@'h'
[[nodiscard]] result<std::string> revoke_on_database(privilege_set privileges,
                                                     std::string_view pattern,
                                                     std::string_view user,
                                                     std::string_view host);
// REVOKE LOCK TABLES, EVENT ON `db`.* FROM 'u'@'h' — privileges outside the allowlist that the
// server reports (granted by hand). Each keyword must match ^[A-Z]+( [A-Z]+)*$, else `invalid`.
[[nodiscard]] result<std::string> revoke_keywords_on_database(const std::vector<std::string>& keywords,
                                                              std::string_view pattern,
                                                              std::string_view user,
                                                              std::string_view host);
// REVOKE GRANT OPTION ON `db`.* FROM 'u'@'h'
[[nodiscard]] result<std::string> revoke_grant_option(std::string_view pattern,
                                                      std::string_view user,
                                                      std::string_view host);

// Ownership bookkeeping (plan.hpp explains why a table): `dbuser_operator`.`owners`.
[[nodiscard]] std::string create_bookkeeping_database();
[[nodiscard]] std::string create_owners_table();
// INSERT INTO `dbuser_operator`.`owners` (`user`, `host`, `owner`) VALUES ('u', 'h', 'ns/name')
[[nodiscard]] result<std::string> claim_owner(std::string_view user, std::string_view host,
                                              std::string_view owner);
// DELETE FROM `dbuser_operator`.`owners` WHERE `user` = 'u' AND `host` = 'h' AND `owner` = 'o'
[[nodiscard]] result<std::string> release_owner(std::string_view user, std::string_view host,
                                                std::string_view owner);
// SELECT `owner` FROM `dbuser_operator`.`owners` WHERE `user` = 'u' AND `host` = 'h'
[[nodiscard]] result<std::string> select_owner(std::string_view user, std::string_view host);

} // namespace dbuser::mysql::sql
