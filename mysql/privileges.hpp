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

enum class privilege : std::uint16_t {
  select = 1U << 0U,
  insert = 1U << 1U,
  update = 1U << 2U,
  delete_ = 1U << 3U,
  create = 1U << 4U,
  drop = 1U << 5U,
  index = 1U << 6U,
  alter = 1U << 7U,
  references = 1U << 8U,
  create_view = 1U << 9U,
  show_view = 1U << 10U,
  trigger = 1U << 11U,
  execute = 1U << 12U,
};

// The SQL keyword of a privilege ("SELECT", "CREATE VIEW").
[[nodiscard]] const char* keyword(privilege p);

} // namespace dbuser::mysql

namespace dbuser {
template <>
struct flag_order<mysql::privilege> {
  // SELECT INSERT UPDATE DELETE CREATE DROP INDEX ALTER REFERENCES CREATE VIEW, SHOW VIEW,
  // TRIGGER, EXECUTE.
  static constexpr std::array<mysql::privilege, 13> values = {
    mysql::privilege::select,      mysql::privilege::insert,    mysql::privilege::update,
    mysql::privilege::delete_,     mysql::privilege::create,    mysql::privilege::drop,
    mysql::privilege::index,       mysql::privilege::alter,     mysql::privilege::references,
    mysql::privilege::create_view, mysql::privilege::show_view, mysql::privilege::trigger,
    mysql::privilege::execute,
  };
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

// The keyword a server reports (PRIVILEGE_TYPE of information_schema.SCHEMA_PRIVILEGES) as a
// privilege; false for others.
[[nodiscard]] bool privilege_from_keyword(const std::string& keyword, privilege& out);

} // namespace dbuser::mysql
