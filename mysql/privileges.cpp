#include "mysql/privileges.hpp"

namespace dbuser::mysql {

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
    case privilege::create:
      return "CREATE";
    case privilege::drop:
      return "DROP";
    case privilege::index:
      return "INDEX";
    case privilege::alter:
      return "ALTER";
    case privilege::references:
      return "REFERENCES";
    case privilege::create_view:
      return "CREATE VIEW";
    case privilege::show_view:
      return "SHOW VIEW";
    case privilege::trigger:
      return "TRIGGER";
    case privilege::execute:
      return "EXECUTE";
  }
  return "";
}

bool privilege_from_keyword(const std::string& word, privilege& out) {
  return from_keyword(word, out);
}

result<privilege_set> parse_privileges(const std::vector<std::string>& names) {
  auto s = parse_flags<privilege>(names);
  if (!s)
    return make_unexpected(make_error(
      error_kind::invalid,
      "privilege \"" + s.error()
        + "\" is not allowed: use SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, "
          "REFERENCES, CREATE VIEW, SHOW VIEW, TRIGGER, EXECUTE or ALL"));
  return *s;
}

} // namespace dbuser::mysql
