#include "mysql/privileges.hpp"

#include <array>
#include <cctype>

namespace dbuser::mysql {

namespace {

constexpr std::array<privilege, 13> canonical = {
  privilege::select,     privilege::insert,      privilege::update,    privilege::delete_,
  privilege::create,     privilege::drop,        privilege::index,     privilege::alter,
  privilege::references, privilege::create_view, privilege::show_view, privilege::trigger,
  privilege::execute,
};

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

privilege_set::privilege_set(std::initializer_list<privilege> ps) {
  for (auto p : ps)
    insert(p);
}

privilege_set privilege_set::all() {
  privilege_set s;
  for (auto p : canonical)
    s.insert(p);
  return s;
}

privilege_set privilege_set::minus(privilege_set other) const {
  privilege_set s;
  s.bits_ = static_cast<std::uint16_t>(bits_ & ~other.bits_);
  return s;
}

privilege_set privilege_set::intersect(privilege_set other) const {
  privilege_set s;
  s.bits_ = static_cast<std::uint16_t>(bits_ & other.bits_);
  return s;
}

privilege_set privilege_set::unite(privilege_set other) const {
  privilege_set s;
  s.bits_ = static_cast<std::uint16_t>(bits_ | other.bits_);
  return s;
}

std::vector<privilege> privilege_set::to_vector() const {
  std::vector<privilege> out;
  for (auto p : canonical)
    if (contains(p))
      out.push_back(p);
  return out;
}

std::string privilege_set::to_string() const {
  std::string out;
  for (auto p : to_vector()) {
    if (!out.empty())
      out += ", ";
    out += keyword(p);
  }
  return out;
}

bool privilege_from_keyword(const std::string& word, privilege& out) {
  for (auto p : canonical) {
    if (word == keyword(p)) {
      out = p;
      return true;
    }
  }
  return false;
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
