#pragma once

// A closed set over an enum whose values are distinct bits (both engines' privileges). The
// enum's canonical order comes from a specialisation of flag_order, and its SQL keyword from a
// `keyword(Enum)` found next to the enum.

#include <array>
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

} // namespace dbuser
