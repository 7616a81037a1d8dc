#include "pg/privileges.hpp"

namespace dbuser::pg {

namespace {

// The allowlist of one enum (common/flag_set.hpp) as a pg::error.
template <class Enum>
result<flag_set<Enum>> allowlist(const std::vector<std::string>& names) {
  auto s = dbuser::parse_allowlist<Enum>(names);
  if (!s)
    return make_unexpected(make_error(error_kind::invalid, s.error()));
  return *s;
}

} // namespace

result<privilege_set> parse_privileges(const std::vector<std::string>& names) {
  return allowlist<privilege>(names);
}

result<sequence_privilege_set> parse_sequence_privileges(const std::vector<std::string>& names) {
  return allowlist<sequence_privilege>(names);
}

result<schema_privilege_set> parse_schema_privileges(const std::vector<std::string>& names) {
  return allowlist<schema_privilege>(names);
}

result<function_privilege_set> parse_function_privileges(const std::vector<std::string>& names) {
  return allowlist<function_privilege>(names);
}

sequence_privilege_set sequences_for(privilege_set tables) {
  sequence_privilege_set s;
  if (tables.contains(privilege::insert))
    s.insert(sequence_privilege::usage);
  if (tables.contains(privilege::select))
    s.insert(sequence_privilege::select);
  if (tables.contains(privilege::update))
    s.insert(sequence_privilege::update);
  return s;
}

} // namespace dbuser::pg
