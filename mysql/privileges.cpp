#include "mysql/privileges.hpp"

#include <cctype>

namespace dbuser::mysql {

namespace {

// Upper case, trimmed, inner whitespace runs collapsed to one space.
std::string normalise(const std::string& name) {
  std::string out;
  bool space = false;
  for (char c : name) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space)
      out += ' ';
    space = false;
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

} // namespace

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
  privilege_set s;
  for (const auto& name : names) {
    const std::string word = normalise(name);
    if (word == "ALL" || word == "ALL PRIVILEGES") {
      s = s.unite(privilege_set::all());
      continue;
    }
    privilege p{};
    if (!privilege_from_keyword(word, p)) {
      std::string shown = name.substr(0, 80);
      for (auto& c : shown)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          c = '?';
      return make_unexpected(make_error(
        error_kind::invalid,
        "privilege \"" + shown
          + "\" is not allowed: use SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, "
            "REFERENCES, CREATE VIEW, SHOW VIEW, TRIGGER, EXECUTE or ALL"));
    }
    s.insert(p);
  }
  return s;
}

} // namespace dbuser::mysql
