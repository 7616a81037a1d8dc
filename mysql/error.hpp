#pragma once

// The error type of the mysql/ layer, shaped like pg::error. Every fallible function returns
// dbuser::expected<T, mysql::error>; no exception leaves mysql/. An error carries the MySQL error
// number and SQLSTATE when the server or client library gave them, a message that never holds a
// password or hash (see redact()), and the context of what was being done ("while granting
// SELECT on appdb.* to 'app'@'%'").

#include "common/db_error.hpp"
#include "common/expected.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace dbuser::mysql {

// The shared classification (common/db_error_kind.hpp); see kind_of_* below for the mapping.
using error_kind = dbuser::db_error_kind;

// kind, sqlstate, message (never a password, hash or statement echo), context, and:
struct error : db_error {
  unsigned code = 0; // MySQL/MariaDB error number (server 1xxx/3xxx, client 2xxx), or 0

  // "while ...: message (MySQL error 1045, SQLSTATE 28000)"
  [[nodiscard]] std::string to_string() const;
};

template <class T>
using result = dbuser::expected<T, error>;

// The kind an error number belongs to (2013 → unavailable, 1045 → auth, 1213 → transient, ...).
[[nodiscard]] error_kind kind_of_code(unsigned code);

[[nodiscard]] error make_error(error_kind kind, std::string message, std::string context = {});
// A mysql::error for a server/client error number, its message redacted against `secrets`.
[[nodiscard]] error server_error(unsigned code, std::string_view sqlstate,
                                 std::string_view server_message, std::string context,
                                 const std::vector<std::string>& secrets = {});

// Removes what must never reach a log or an Event from a server or library message: the
// statement echo of syntax errors ("... near 'AS '*2470...'' at line 1"), anything shaped like a
// mysql_native_password hash (*<40 hex>), and every string in `secrets`.
[[nodiscard]] std::string redact(std::string_view text,
                                 const std::vector<std::string>& secrets = {});

} // namespace dbuser::mysql
