#pragma once

// Validation of every name that reaches SQL. Builders quote identifiers anyway (sql.hpp); these
// rules exist so the operator refuses names that are reserved, dangerous to hand out, or that
// PostgreSQL would silently truncate. Each rejection is an `invalid` error saying why.

#include "pg/error.hpp"

#include <string_view>

namespace dbuser::pg {

// PostgreSQL's NAMEDATALEN - 1: longer identifiers are silently truncated by the server.
inline constexpr std::size_t max_identifier_bytes = 63;

// A role the operator creates or grants membership in: 1–63 bytes of ^[a-z_][a-z0-9_]*$, not
// starting with pg_, not postgres, not public, not `admin_user` (the role the operator acts as).
[[nodiscard]] result<void> validate_role_name(std::string_view name, std::string_view admin_user);

// The predefined roles an application or an exporter may be made a member of (memberOf), with
// the first server version that has each: pg_monitor, pg_read_all_stats, pg_stat_scan_tables and
// pg_signal_backend (10), pg_read_all_data and pg_write_all_data (14). The other pg_ roles give
// access to server files or programs, or are PostgreSQL's own: never granted.
struct predefined_role {
  std::string_view name;
  int since; // server_version_num
};
[[nodiscard]] const predefined_role* find_predefined_role(std::string_view name);

// A memberOf entry: a role validate_role_name accepts, or one of the predefined roles above.
[[nodiscard]] result<void> validate_member_of(std::string_view name, std::string_view admin_user);

// A database name: 1–63 bytes of ^[A-Za-z_][A-Za-z0-9_-]*$, not template0/template1.
[[nodiscard]] result<void> validate_database_name(std::string_view name);

// A schema name: 1–63 bytes of ^[A-Za-z_][A-Za-z0-9_-]*$, not pg_* nor information_schema.
[[nodiscard]] result<void> validate_schema_name(std::string_view name);

} // namespace dbuser::pg
