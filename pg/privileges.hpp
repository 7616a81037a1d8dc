#pragma once

// Table privileges as a closed set. Privileges never reach SQL as user text: the allowlist turns
// input into this set, and the builders print the set's own keywords.

#include "common/flag_set.hpp"
#include "pg/error.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace dbuser::pg {

enum class privilege : std::uint8_t {
  select = 1U << 0U,
  insert = 1U << 1U,
  update = 1U << 2U,
  delete_ = 1U << 3U,
  truncate = 1U << 4U,
  references = 1U << 5U,
  trigger = 1U << 6U,
};

// The SQL keyword of a privilege ("SELECT").
[[nodiscard]] const char* keyword(privilege p);

// Privileges on a sequence: USAGE (nextval, what INSERT into a serial column needs), SELECT
// (currval), UPDATE (setval).
enum class sequence_privilege : std::uint8_t {
  usage = 1U << 0U,
  select = 1U << 1U,
  update = 1U << 2U,
};

[[nodiscard]] const char* keyword(sequence_privilege p);

// Privileges on a schema: USAGE (always granted with any privilege in it) and CREATE (tables,
// views, functions, types of one's own in it: what running migrations needs).
enum class schema_privilege : std::uint8_t {
  usage = 1U << 0U,
  create = 1U << 1U,
};

[[nodiscard]] const char* keyword(schema_privilege p);

// Privileges on functions and procedures (routines): EXECUTE.
enum class function_privilege : std::uint8_t {
  execute = 1U << 0U,
};

[[nodiscard]] const char* keyword(function_privilege p);

} // namespace dbuser::pg

namespace dbuser {
template <>
struct flag_order<pg::privilege> {
  // SELECT INSERT UPDATE DELETE TRUNCATE REFERENCES TRIGGER.
  static constexpr std::array<pg::privilege, 7> values = {
    pg::privilege::select,   pg::privilege::insert,     pg::privilege::update,
    pg::privilege::delete_,  pg::privilege::truncate,   pg::privilege::references,
    pg::privilege::trigger,
  };
};
template <>
struct flag_order<pg::sequence_privilege> {
  // USAGE SELECT UPDATE.
  static constexpr std::array<pg::sequence_privilege, 3> values = {
    pg::sequence_privilege::usage, pg::sequence_privilege::select, pg::sequence_privilege::update,
  };
};
template <>
struct flag_order<pg::schema_privilege> {
  static constexpr std::array<pg::schema_privilege, 2> values = {pg::schema_privilege::usage,
                                                                 pg::schema_privilege::create};
};
template <>
struct flag_order<pg::function_privilege> {
  static constexpr std::array<pg::function_privilege, 1> values = {pg::function_privilege::execute};
};
} // namespace dbuser

namespace dbuser::pg {

using sequence_privilege_set = flag_set<sequence_privilege>;
using schema_privilege_set = flag_set<schema_privilege>;
using function_privilege_set = flag_set<function_privilege>;

using privilege_set = flag_set<privilege>;

// The allowlist: SELECT INSERT UPDATE DELETE TRUNCATE REFERENCES TRIGGER and ALL (every one of
// them), any case, surrounding spaces ignored, duplicates merged. Anything else is an `invalid`
// error naming the offending entry. An empty list is valid (CONNECT and USAGE only).
[[nodiscard]] result<privilege_set> parse_privileges(const std::vector<std::string>& names);

// The keyword a server reports (privilege_type of aclexplode) as a privilege; false for others.
[[nodiscard]] bool privilege_from_keyword(const std::string& keyword, privilege& out);
[[nodiscard]] bool privilege_from_keyword(const std::string& keyword, sequence_privilege& out);
[[nodiscard]] bool privilege_from_keyword(const std::string& keyword, function_privilege& out);

// What the sequences of a schema need so that its table privileges work: INSERT needs USAGE
// (nextval of a serial or bigserial column's default), SELECT needs SELECT (currval), UPDATE
// needs UPDATE (setval). Identity columns need none of them; granting them is harmless.
[[nodiscard]] sequence_privilege_set sequences_for(privilege_set tables);

// The allowlist of sequence privileges: USAGE SELECT UPDATE and ALL, as parse_privileges.
[[nodiscard]] result<sequence_privilege_set>
parse_sequence_privileges(const std::vector<std::string>& names);
// schemaPrivileges: USAGE CREATE and ALL. USAGE is granted whatever the list says.
[[nodiscard]] result<schema_privilege_set>
parse_schema_privileges(const std::vector<std::string>& names);
// functionPrivileges: EXECUTE and ALL.
[[nodiscard]] result<function_privilege_set>
parse_function_privileges(const std::vector<std::string>& names);

} // namespace dbuser::pg
