#include "pg/privileges.hpp"


namespace dbuser::pg {

const char* keyword(privilege p) {
  switch (p) {
    case privilege::select:
      return "SELECT";
    case privilege::insert:
      return "INSERT";
    case privilege::update:
      return "UPDATE";
    case privilege::delete_:
      return "DELETE";
    case privilege::truncate:
      return "TRUNCATE";
    case privilege::references:
      return "REFERENCES";
    case privilege::trigger:
      return "TRIGGER";
  }
  return "";
}

const char* keyword(sequence_privilege p) {
  switch (p) {
    case sequence_privilege::usage:
      return "USAGE";
    case sequence_privilege::select:
      return "SELECT";
    case sequence_privilege::update:
      return "UPDATE";
  }
  return "";
}

const char* keyword(schema_privilege p) {
  switch (p) {
    case schema_privilege::usage:
      return "USAGE";
    case schema_privilege::create:
      return "CREATE";
  }
  return "";
}

const char* keyword(function_privilege p) {
  switch (p) {
    case function_privilege::execute:
      return "EXECUTE";
  }
  return "";
}

bool privilege_from_keyword(const std::string& word, function_privilege& out) {
  return from_keyword(word, out);
}

bool privilege_from_keyword(const std::string& word, privilege& out) {
  return from_keyword(word, out);
}

bool privilege_from_keyword(const std::string& word, sequence_privilege& out) {
  return from_keyword(word, out);
}

namespace {

// The allowlist of one enum (common/flag_set.hpp), with the message PostgreSQL users see.
template <class Enum>
result<flag_set<Enum>> parse_allowlist(const std::vector<std::string>& names,
                                       const char* allowed) {
  auto s = parse_flags<Enum>(names);
  if (!s)
    return make_unexpected(make_error(
      error_kind::invalid, "privilege \"" + s.error() + "\" is not allowed: use " + allowed));
  return *s;
}

} // namespace

result<privilege_set> parse_privileges(const std::vector<std::string>& names) {
  return parse_allowlist<privilege>(
    names, "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER or ALL");
}

result<sequence_privilege_set> parse_sequence_privileges(const std::vector<std::string>& names) {
  return parse_allowlist<sequence_privilege>(names, "USAGE, SELECT, UPDATE or ALL");
}

result<schema_privilege_set> parse_schema_privileges(const std::vector<std::string>& names) {
  return parse_allowlist<schema_privilege>(names, "USAGE, CREATE or ALL");
}

result<function_privilege_set> parse_function_privileges(const std::vector<std::string>& names) {
  return parse_allowlist<function_privilege>(names, "EXECUTE or ALL");
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
