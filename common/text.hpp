#pragma once

// Small text and lookup helpers every layer uses the same way (both engines' plans and
// validation, the target policy).

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace dbuser {

// `s` with A-Z folded to a-z (nothing else changes).
[[nodiscard]] inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// The items with `sep` between them.
[[nodiscard]] inline std::string join(const std::vector<std::string>& items,
                                      std::string_view sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty())
      out += sep;
    out += s;
  }
  return out;
}

// User input as a message may show it: at most `max` bytes, control characters as '?'.
[[nodiscard]] inline std::string printable_prefix(std::string_view text, std::size_t max = 80) {
  std::string out(text.substr(0, max));
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = '?';
  return out;
}

// The first element of `items` whose `field` equals `key`; nullptr when none does.
template <class Items, class Field, class Key>
[[nodiscard]] auto find_by(const Items& items, Field field, const Key& key)
  -> decltype(&*std::begin(items)) {
  auto it = std::find_if(std::begin(items), std::end(items),
                         [&](const auto& item) { return item.*field == key; });
  return it == std::end(items) ? nullptr : &*it;
}

} // namespace dbuser
