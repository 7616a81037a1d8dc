#pragma once

// SQL quoting shared by both engines: `text` between two `q`s, each `q` inside doubled. That is
// how PostgreSQL quotes identifiers ("…") and MariaDB/MySQL theirs (`…`), and how both quote
// standard string literals ('…'). What an engine refuses inside a literal before quoting (a NUL
// byte; MariaDB's backslash, whose meaning depends on NO_BACKSLASH_ESCAPES) is its own rule,
// checked by its builder.

#include <string>
#include <string_view>

namespace dbuser {

[[nodiscard]] inline std::string quote_doubled(std::string_view text, char q) {
  std::string out;
  out.reserve(text.size() + 2);
  out += q;
  for (char c : text) {
    if (c == q)
      out += q;
    out += c;
  }
  out += q;
  return out;
}

// `text` between two `q`s, each `q` and backslash inside preceded by a backslash: how a value of
// a libpq keyword/value connection string is quoted (q = '\'').
[[nodiscard]] inline std::string quote_escaped(std::string_view text, char q) {
  std::string out;
  out.reserve(text.size() + 2);
  out += q;
  for (char c : text) {
    if (c == q || c == '\\')
      out += '\\';
    out += c;
  }
  out += q;
  return out;
}

} // namespace dbuser
