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
  select, insert, update, delete_, truncate, references, trigger,
};

// Privileges on a sequence: USAGE (nextval, what INSERT into a serial column needs), SELECT
// (currval), UPDATE (setval).
enum class sequence_privilege : std::uint8_t { usage, select, update };

// Privileges on a schema: USAGE (always granted with any privilege in it) and CREATE (tables,
// views, functions, types of one's own in it: what running migrations needs).
enum class schema_privilege : std::uint8_t { usage, create };

// Privileges on functions and procedures (routines): EXECUTE.
enum class function_privilege : std::uint8_t { execute };

} // namespace dbuser::pg

// Each value's keyword, in the enum's order (common/flag_set.hpp: keyword(), from_keyword()).
namespace dbuser {
template <>
struct flag_order<pg::privilege> {
  static constexpr std::array<const char*, 7> keywords = {
    "SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"};
};
template <>
struct flag_order<pg::sequence_privilege> {
  static constexpr std::array<const char*, 3> keywords = {"USAGE", "SELECT", "UPDATE"};
};
template <>
struct flag_order<pg::schema_privilege> {
  static constexpr std::array<const char*, 2> keywords = {"USAGE", "CREATE"};
};
template <>
struct flag_order<pg::function_privilege> {
  static constexpr std::array<const char*, 1> keywords = {"EXECUTE"};
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
