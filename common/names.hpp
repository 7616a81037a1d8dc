#pragma once

// The shape of the names both engines accept from a spec (users, roles, databases, schemas),
// and the message of a name refused. What is reserved, and how long a name may be, is each
// engine's own rule (pg/validation.hpp, mysql/validation.hpp).

#include "common/db_error.hpp"
#include "common/expected.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dbuser::names {

// ^[a-z_][a-z0-9_]*$ (a login's name) and ^[A-Za-z_][A-Za-z0-9_-]*$ (a database's, a schema's).
[[nodiscard]] inline bool lower_start(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
[[nodiscard]] inline bool lower_rest(char c) { return lower_start(c) || (c >= '0' && c <= '9'); }
[[nodiscard]] inline bool any_start(char c) { return lower_start(c) || (c >= 'A' && c <= 'Z'); }
[[nodiscard]] inline bool any_rest(char c) {
  return any_start(c) || (c >= '0' && c <= '9') || c == '-';
}

// `what "name" why`: the name shown for the reader only, shortened (80 bytes, then "...") and
// with control characters as '?', so that a hostile value stays readable.
[[nodiscard]] std::string refused(std::string_view what, std::string_view name,
                                  const std::string& why);

// A name's shape as both engines check it.
struct shape {
  std::size_t max_bytes;
  bool (*start)(char);
  bool (*rest)(char);
  const char* pattern;  // "^[a-z_][a-z0-9_]*$", for the message
  const char* too_long; // what the server does with a longer name, for the message
};

// Why `name` (a `what`) is not of shape `s`: empty, too long, or a character outside it;
// nullopt when it is.
[[nodiscard]] std::optional<std::string> shape_problem(std::string_view what,
                                                       std::string_view name, const shape& s);

// shape_problem as an engine's result: an `invalid` E (pg::error, mysql::error) saying it.
template <class E>
[[nodiscard]] expected<void, E> check_shape(std::string_view what, std::string_view name,
                                            const shape& s) {
  if (auto why = shape_problem(what, name, s))
    return make_unexpected(make_db_error<E>(db_error_kind::invalid, std::move(*why), {}));
  return {};
}

} // namespace dbuser::names
