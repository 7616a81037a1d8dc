#include "pg/privileges.hpp"

#include <cctype>

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

bool privilege_from_keyword(const std::string& word, privilege& out) {
  return from_keyword(word, out);
}

result<privilege_set> parse_privileges(const std::vector<std::string>& names) {
  privilege_set s;
  for (const auto& name : names) {
    const auto first = name.find_first_not_of(" \t");
    const auto last = name.find_last_not_of(" \t");
    std::string word = first == std::string::npos ? "" : name.substr(first, last - first + 1);
    for (auto& c : word)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (word == "ALL" || word == "ALL PRIVILEGES") {
      s = privilege_set::all();
      continue;
    }
    privilege p{};
    if (!privilege_from_keyword(word, p))
      return make_unexpected(make_error(
        error_kind::invalid,
        "privilege \"" + name
          + "\" is not allowed: use SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, "
            "TRIGGER or ALL"));
    s.insert(p);
  }
  return s;
}

} // namespace dbuser::pg
