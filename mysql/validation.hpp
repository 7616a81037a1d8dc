#pragma once

// Validation of every name that reaches SQL. Builders quote anyway (sql.hpp); these rules exist so
// the operator refuses names that are reserved, dangerous to hand out, or that the server would
// reject or interpret as a pattern. Each rejection is an `invalid` error saying why.

#include "mysql/error.hpp"

#include <cstddef>
#include <string_view>

namespace dbuser::mysql {

// MySQL 5.7+ keeps user names to 32 characters (MariaDB allows 80): the smaller limit holds on
// both engines.
inline constexpr std::size_t max_user_bytes = 32;
// The host part of an account: MySQL 8.0.17+ and MariaDB allow 255.
inline constexpr std::size_t max_host_bytes = 255;
inline constexpr std::size_t max_database_bytes = 64;

// The schema where the operator keeps its ownership table (see plan.hpp); never a user database.
inline constexpr std::string_view bookkeeping_database = "dbuser_operator";

// A user name: 1–32 bytes of ^[a-z_][a-z0-9_]*$, not root, not mysql.* / mariadb.sys (they do not
// match the pattern anyway), not `admin_user` (the account the operator acts as).
[[nodiscard]] result<void> validate_user_name(std::string_view name, std::string_view admin_user);

// The host part of the account ('user'@'host'): 1–255 bytes of ^[A-Za-z0-9%._:-]+$ — `%`,
// `localhost`, IPv4/IPv6 literals, patterns such as `10.0.0.%`, DNS names. Never a quote, a
// backslash, a slash or a space.
[[nodiscard]] result<void> validate_account_host(std::string_view host);

// A database name: 1–64 bytes of ^[A-Za-z_][A-Za-z0-9_-]*$, not mysql, information_schema,
// performance_schema, sys, nor the operator's own dbuser_operator.
[[nodiscard]] result<void> validate_database_name(std::string_view name);

} // namespace dbuser::mysql
