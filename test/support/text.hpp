#pragma once

// Small text helpers the tests share: decoding what the operator encodes (independently of its
// encoders) and counting characters of a class.

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace dbuser::test {

// RFC 3986 percent-decoding ("%40" → "@"); other characters as they are.
inline std::string percent_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// How many characters of `s` are among `chars`.
inline std::size_t count_of(std::string_view s, std::string_view chars) {
  return static_cast<std::size_t>(std::count_if(
    s.begin(), s.end(), [&](char c) { return chars.find(c) != std::string_view::npos; }));
}

} // namespace dbuser::test
