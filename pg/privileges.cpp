#include "pg/privileges.hpp"

#include <array>
#include <cctype>

namespace dbuser::pg {

namespace {

constexpr std::array<privilege, 7> canonical = {
  privilege::select,   privilege::insert,     privilege::update,  privilege::delete_,
  privilege::truncate, privilege::references, privilege::trigger,
};

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
    case privilege::truncate:
      return "TRUNCATE";
    case privilege::references:
      return "REFERENCES";
    case privilege::trigger:
      return "TRIGGER";
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
  s.bits_ = static_cast<std::uint8_t>(bits_ & ~other.bits_);
  return s;
}

privilege_set privilege_set::intersect(privilege_set other) const {
  privilege_set s;
  s.bits_ = static_cast<std::uint8_t>(bits_ & other.bits_);
  return s;
}

privilege_set privilege_set::unite(privilege_set other) const {
  privilege_set s;
  s.bits_ = static_cast<std::uint8_t>(bits_ | other.bits_);
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
