#pragma once

// Table privileges as a closed set. Privileges never reach SQL as user text: the allowlist turns
// input into this set, and the builders print the set's own keywords.

#include "pg/error.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace dbuser::pg {

enum class privilege : std::uint8_t {
  select = 1U << 0U,
  insert = 1U << 1U,
  update = 1U << 2U,
  delete_ = 1U << 3U,
  truncate = 1U << 4U,
  references = 1U << 5U,
  trigger = 1U << 6U,
};

// The SQL keyword of a privilege ("SELECT").
[[nodiscard]] const char* keyword(privilege p);

class privilege_set {
public:
  privilege_set() = default;
  privilege_set(std::initializer_list<privilege> ps);
  [[nodiscard]] static privilege_set all();

  void insert(privilege p) { bits_ |= static_cast<std::uint8_t>(p); }
  [[nodiscard]] bool contains(privilege p) const {
    return (bits_ & static_cast<std::uint8_t>(p)) != 0;
  }
  [[nodiscard]] bool empty() const { return bits_ == 0; }
  // Privileges in this set and not in `other`.
  [[nodiscard]] privilege_set minus(privilege_set other) const;
  [[nodiscard]] privilege_set intersect(privilege_set other) const;
  [[nodiscard]] privilege_set unite(privilege_set other) const;
  // In canonical order: SELECT INSERT UPDATE DELETE TRUNCATE REFERENCES TRIGGER.
  [[nodiscard]] std::vector<privilege> to_vector() const;
  // "SELECT, INSERT" (empty string for the empty set).
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(privilege_set a, privilege_set b) { return a.bits_ == b.bits_; }
  friend bool operator!=(privilege_set a, privilege_set b) { return a.bits_ != b.bits_; }

private:
  std::uint8_t bits_ = 0;
};

// The allowlist: SELECT INSERT UPDATE DELETE TRUNCATE REFERENCES TRIGGER and ALL (every one of
// them), any case, surrounding spaces ignored, duplicates merged. Anything else is an `invalid`
// error naming the offending entry. An empty list is valid (CONNECT and USAGE only).
[[nodiscard]] result<privilege_set> parse_privileges(const std::vector<std::string>& names);

// The keyword a server reports (privilege_type of aclexplode) as a privilege; false for others.
[[nodiscard]] bool privilege_from_keyword(const std::string& keyword, privilege& out);

} // namespace dbuser::pg
