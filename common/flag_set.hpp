#pragma once

// A closed set over an enum whose values are distinct bits (both engines' privileges). The
// enum's canonical order comes from a specialisation of flag_order, and its SQL keyword from a
// `keyword(Enum)` found next to the enum.

#include "common/expected.hpp"

#include <array>
#include <cctype>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

namespace dbuser {

// Specialise with `static constexpr std::array<Enum, N> values` (every value, in order).
template <class Enum>
struct flag_order;

template <class Enum>
class flag_set {
  using bits_type = std::underlying_type_t<Enum>;

public:
  flag_set() = default;
  flag_set(std::initializer_list<Enum> values) {
    for (auto v : values)
      insert(v);
  }
  [[nodiscard]] static flag_set all() {
    flag_set s;
    for (auto v : flag_order<Enum>::values)
      s.insert(v);
    return s;
  }

  void insert(Enum v) { bits_ = static_cast<bits_type>(bits_ | static_cast<bits_type>(v)); }
  [[nodiscard]] bool contains(Enum v) const { return (bits_ & static_cast<bits_type>(v)) != 0; }
  [[nodiscard]] bool empty() const { return bits_ == 0; }
  // Values in this set and not in `other`.
  [[nodiscard]] flag_set minus(flag_set other) const {
    return of(static_cast<bits_type>(bits_ & ~other.bits_));
  }
  [[nodiscard]] flag_set intersect(flag_set other) const {
    return of(static_cast<bits_type>(bits_ & other.bits_));
  }
  [[nodiscard]] flag_set unite(flag_set other) const {
    return of(static_cast<bits_type>(bits_ | other.bits_));
  }
  // In canonical order.
  [[nodiscard]] std::vector<Enum> to_vector() const {
    std::vector<Enum> out;
    for (auto v : flag_order<Enum>::values)
      if (contains(v))
        out.push_back(v);
    return out;
  }
  // "SELECT, INSERT" (empty string for the empty set).
  [[nodiscard]] std::string to_string() const {
    std::string out;
    for (auto v : to_vector()) {
      if (!out.empty())
        out += ", ";
      out += keyword(v);
    }
    return out;
  }

  friend bool operator==(flag_set a, flag_set b) { return a.bits_ == b.bits_; }
  friend bool operator!=(flag_set a, flag_set b) { return a.bits_ != b.bits_; }

private:
  static flag_set of(bits_type bits) {
    flag_set s;
    s.bits_ = bits;
    return s;
  }
  bits_type bits_ = 0;
};

// The value whose keyword is `word`; false when none is.
template <class Enum>
[[nodiscard]] bool from_keyword(const std::string& word, Enum& out) {
  for (auto v : flag_order<Enum>::values) {
    if (word == keyword(v)) {
      out = v;
      return true;
    }
  }
  return false;
}

// An allowlist entry as written, made comparable with the keywords: upper case, trimmed, inner
// runs of spaces and tabs collapsed to one space.
inline std::string normalise_keyword(const std::string& name) {
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

// The allowlist of an enum's keywords, for every engine: each entry (normalise_keyword) is one of
// them, or ALL / ALL PRIVILEGES (every value); duplicates merge. Else the offending entry as it
// can be shown in a message: at most 80 bytes, control characters as '?'.
template <class Enum>
[[nodiscard]] expected<flag_set<Enum>, std::string>
parse_flags(const std::vector<std::string>& names) {
  flag_set<Enum> s;
  for (const auto& name : names) {
    const std::string word = normalise_keyword(name);
    if (word == "ALL" || word == "ALL PRIVILEGES") {
      s = s.unite(flag_set<Enum>::all());
      continue;
    }
    Enum p{};
    if (!from_keyword(word, p)) {
      std::string shown = name.substr(0, 80);
      for (auto& c : shown)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          c = '?';
      return make_unexpected(shown);
    }
    s.insert(p);
  }
  return s;
}

} // namespace dbuser
