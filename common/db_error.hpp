#pragma once

// What every engine's error carries (pg::error, mysql::error derive from it and add their own
// codes and wording): the shared classification, the SQLSTATE when the server gave one, a message
// that never holds a secret, and the context of what was being done ("while granting SELECT on
// myapp_db.public to myapp").

#include "common/db_error_kind.hpp"

#include <string>
#include <vector>

namespace dbuser {

struct db_error {
  db_error_kind kind = db_error_kind::internal;
  std::string sqlstate; // five characters, or empty
  std::string message;  // redacted: never a password, a hash or verifier, or statement text
  std::string context;  // "while granting SELECT on myapp_db.public to myapp"

  // Retry with backoff (true) or stop and report (false).
  [[nodiscard]] bool transient() const { return is_transient(kind); }
  // "context: message", or the message alone.
  [[nodiscard]] std::string described() const {
    return context.empty() ? message : context + ": " + message;
  }
};

// An engine's error (E derives from db_error) of `kind` with `message`, no codes.
template <class E>
[[nodiscard]] E make_db_error(db_error_kind kind, std::string message, std::string context) {
  E e;
  e.kind = kind;
  e.message = std::move(message);
  e.context = std::move(context);
  return e;
}

// Every non-empty string of `secrets` in `text` replaced with "<redacted>".
inline void redact_secrets(std::string& text, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    if (secret.empty())
      continue;
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at))
      text.replace(at, secret.size(), "<redacted>");
  }
}

} // namespace dbuser
