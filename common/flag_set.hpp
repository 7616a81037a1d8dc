#pragma once

// A closed set over an enum whose values are 0, 1, 2 ... (at most 32 of them: both engines'
// privileges), and the allowlist that turns user input into one. The values' SQL keywords come
// from a specialisation of flag_order: an engine writes only its enum and that table.

#include "common/expected.hpp"
#include "common/text.hpp"

#include <array>
#include <cctype>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace dbuser {

// Specialise with `static constexpr std::array<const char*, N> keywords`: the SQL keyword of
// every value ("SELECT", "CREATE VIEW"), in the enum's order, which is the canonical one.
template <class Enum>
struct flag_order;

// Every value of Enum, in order.
template <class Enum>
[[nodiscard]] std::vector<Enum> flag_values() {
  std::vector<Enum> out;
  for (std::size_t i = 0; i < flag_order<Enum>::keywords.size(); ++i)
    out.push_back(static_cast<Enum>(i));
  return out;
}

// The SQL keyword of `v` ("" for a value past the table).
template <class Enum>
[[nodiscard]] const char* keyword(Enum v) {
  const auto i = static_cast<std::size_t>(v);
  return i < flag_order<Enum>::keywords.size() ? flag_order<Enum>::keywords[i] : "";
}

template <class Enum>
class flag_set {
  using bits_type = std::uint32_t;
  static_assert(flag_order<Enum>::keywords.size() <= 32, "flag_set keeps at most 32 values");
  static constexpr bits_type bit(Enum v) { return bits_type{1} << static_cast<unsigned>(v); }

public:
  flag_set() = default;
  flag_set(std::initializer_list<Enum> values) {
    for (auto v : values)
      insert(v);
  }
  [[nodiscard]] static flag_set all() {
    flag_set s;
    for (auto v : flag_values<Enum>())
      s.insert(v);
    return s;
  }

  void insert(Enum v) { bits_ |= bit(v); }
  [[nodiscard]] bool contains(Enum v) const { return (bits_ & bit(v)) != 0; }
  [[nodiscard]] bool empty() const { return bits_ == 0; }
  // Values in this set and not in `other`.
  [[nodiscard]] flag_set minus(flag_set other) const { return of(bits_ & ~other.bits_); }
  [[nodiscard]] flag_set intersect(flag_set other) const { return of(bits_ & other.bits_); }
  [[nodiscard]] flag_set unite(flag_set other) const { return of(bits_ | other.bits_); }
  // In canonical order.
  [[nodiscard]] std::vector<Enum> to_vector() const {
    std::vector<Enum> out;
    for (auto v : flag_values<Enum>())
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
      out += dbuser::keyword(v);
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

// The value whose keyword is `word` (as a server reports it); false when none is.
template <class Enum>
[[nodiscard]] bool from_keyword(const std::string& word, Enum& out) {
  for (auto v : flag_values<Enum>()) {
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
      return make_unexpected(printable_prefix(name, 80));
    }
    s.insert(p);
  }
  return s;
}

// "SELECT, INSERT or ALL": what the allowlist of Enum accepts, in canonical order.
template <class Enum>
[[nodiscard]] std::string allowed_keywords() {
  std::string out;
  for (const char* k : flag_order<Enum>::keywords) {
    if (!out.empty())
      out += ", ";
    out += k;
  }
  return out + " or ALL";
}

// parse_flags with the message users see when an entry is not allowed: privilege "<entry>" is
// not allowed: use SELECT, INSERT or ALL.
template <class Enum>
[[nodiscard]] expected<flag_set<Enum>, std::string>
parse_allowlist(const std::vector<std::string>& names) {
  auto s = parse_flags<Enum>(names);
  if (!s)
    return make_unexpected("privilege \"" + s.error() + "\" is not allowed: use "
                           + allowed_keywords<Enum>());
  return *s;
}

} // namespace dbuser
