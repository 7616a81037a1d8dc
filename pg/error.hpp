#pragma once

// The error type of the pg/ layer. Every fallible function returns dbuser::expected<T, pg::error>;
// no exception leaves pg/. An error carries the SQLSTATE when the server gave one, a message that
// never holds a password or verifier (see redact()), and the context of what was being done
// ("while granting SELECT on myapp_db.public to myapp").

#include "common/db_error.hpp"
#include "common/expected.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace dbuser::pg {

// The shared classification (common/db_error_kind.hpp); see kind_of_* below for the mapping.
using error_kind = dbuser::db_error_kind;

// kind, sqlstate, message (never a password, verifier or query text), context.
struct error : db_error {
  // "while ...: message (SQLSTATE 42501)"
  [[nodiscard]] std::string to_string() const;
};

template <class T>
using result = dbuser::expected<T, error>;

// The kind a SQLSTATE belongs to (class 08 → unavailable, 42501 → permission, ...).
[[nodiscard]] error_kind kind_of_sqlstate(std::string_view sqlstate);

// A pg::error for `sqlstate` with `message` redacted against `secrets`.
[[nodiscard]] error make_error(error_kind kind, std::string message, std::string context = {});
[[nodiscard]] error sql_error(std::string_view sqlstate, std::string_view server_message,
                              std::string context, const std::vector<std::string>& secrets = {});

// The message of a limit error (SQLSTATE class 54): the server's, what limit it is when known
// ("row is too big": an ACL too long for its catalog row), and what to do.
[[nodiscard]] std::string limit_message(const std::string& server_message);

// Removes what must never reach a log or an Event from a server or library message: the
// statement echo ("LINE 1: ALTER ROLE ... PASSWORD '...'" and its caret line, "Query was: ..."),
// anything shaped like a SCRAM or MD5 verifier, and every string in `secrets`.
[[nodiscard]] std::string redact(std::string_view text, const std::vector<std::string>& secrets = {});

} // namespace dbuser::pg
