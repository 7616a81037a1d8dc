#pragma once

// Database-level privileges as a closed set. Privileges never reach SQL as user text: the
// allowlist turns input into this set, and the builders print the set's own keywords.

#include "common/flag_set.hpp"
#include "mysql/error.hpp"

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace dbuser::mysql {

enum class privilege : std::uint8_t {
  select, insert, update, delete_, create, drop, index, alter, references, create_view, show_view,
  trigger, execute,
};

} // namespace dbuser::mysql

// Each value's keyword, in the enum's order (common/flag_set.hpp: keyword(), from_keyword()).
namespace dbuser {
template <>
struct flag_order<mysql::privilege> {
  static constexpr std::array<const char*, 13> keywords = {
    "SELECT", "INSERT",     "UPDATE",      "DELETE",    "CREATE",  "DROP",   "INDEX",
    "ALTER",  "REFERENCES", "CREATE VIEW", "SHOW VIEW", "TRIGGER", "EXECUTE"};
};
} // namespace dbuser

namespace dbuser::mysql {

using privilege_set = flag_set<privilege>;

// The allowlist: SELECT INSERT UPDATE DELETE CREATE DROP INDEX ALTER REFERENCES "CREATE VIEW"
// "SHOW VIEW" TRIGGER EXECUTE and ALL / ALL PRIVILEGES (every one of these — never the server's
// ALL, which includes LOCK TABLES, EVENT, CREATE ROUTINE, ...). Any case, surrounding spaces
// ignored, inner runs of spaces count as one, duplicates merged. Anything else is an `invalid`
// error naming the offending entry. An empty list is valid (the account can log in, nothing more).
[[nodiscard]] result<privilege_set> parse_privileges(const std::vector<std::string>& names);

} // namespace dbuser::mysql
