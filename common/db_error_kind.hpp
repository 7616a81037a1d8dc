#pragma once

// How a database error is classified, for both engines (pg/, mysql/): one policy decides from it
// whether to retry with backoff or to stop and report.

#include <string_view>

namespace dbuser {

enum class db_error_kind {
  invalid,     // bad input or a statement the server rejects as wrong
  conflict,    // the world is not as expected (duplicate object, dependent objects, ownership)
  permission,  // the admin lacks a privilege
  auth,        // authentication failed
  unavailable, // cannot reach the server, or it is going away
  transient,   // the server asks to retry (deadlock, serialization, too many connections, ...)
  limit,       // a server limit was hit (PostgreSQL class 54): retrying will not help
  internal,    // anything else: a bug or an unexpected library failure
};

[[nodiscard]] constexpr std::string_view to_string(db_error_kind k) {
  switch (k) {
    case db_error_kind::invalid: return "invalid";
    case db_error_kind::conflict: return "conflict";
    case db_error_kind::permission: return "permission";
    case db_error_kind::auth: return "auth";
    case db_error_kind::unavailable: return "unavailable";
    case db_error_kind::transient: return "transient";
    case db_error_kind::limit: return "limit";
    case db_error_kind::internal: return "internal";
  }
  return "internal";
}

// Retry with backoff (true) or stop and report (false).
[[nodiscard]] constexpr bool is_transient(db_error_kind k) {
  return k == db_error_kind::unavailable || k == db_error_kind::transient;
}

} // namespace dbuser
