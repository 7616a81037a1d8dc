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

// A database name: 1–63 bytes of ^[A-Za-z_][A-Za-z0-9_-]*$, not template0/template1.
[[nodiscard]] result<void> validate_database_name(std::string_view name);

// A schema name: 1–63 bytes of ^[A-Za-z_][A-Za-z0-9_-]*$, not pg_* nor information_schema.
[[nodiscard]] result<void> validate_schema_name(std::string_view name);

} // namespace dbuser::pg
