#pragma once

// Database-level privileges as a closed set. Privileges never reach SQL as user text: the
// allowlist turns input into this set, and the builders print the set's own keywords.

#include "mysql/error.hpp"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace dbuser::mysql {

enum class privilege : std::uint16_t {
  select = 1U << 0U,
  insert = 1U << 1U,
  update = 1U << 2U,
  delete_ = 1U << 3U,
  create = 1U << 4U,
  drop = 1U << 5U,
  index = 1U << 6U,
  alter = 1U << 7U,
  references = 1U << 8U,
  create_view = 1U << 9U,
  show_view = 1U << 10U,
  trigger = 1U << 11U,
  execute = 1U << 12U,
};

// The SQL keyword of a privilege ("SELECT", "CREATE VIEW").
[[nodiscard]] const char* keyword(privilege p);

class privilege_set {
public:
  privilege_set() = default;
  privilege_set(std::initializer_list<privilege> ps);
  [[nodiscard]] static privilege_set all();

  void insert(privilege p) { bits_ |= static_cast<std::uint16_t>(p); }
  [[nodiscard]] bool contains(privilege p) const {
    return (bits_ & static_cast<std::uint16_t>(p)) != 0;
  }
  [[nodiscard]] bool empty() const { return bits_ == 0; }
  // Privileges in this set and not in `other`.
  [[nodiscard]] privilege_set minus(privilege_set other) const;
  [[nodiscard]] privilege_set intersect(privilege_set other) const;
  [[nodiscard]] privilege_set unite(privilege_set other) const;
  // In canonical order: SELECT INSERT UPDATE DELETE CREATE DROP INDEX ALTER REFERENCES
  // CREATE VIEW, SHOW VIEW, TRIGGER, EXECUTE.
  [[nodiscard]] std::vector<privilege> to_vector() const;
  // "SELECT, INSERT" (empty string for the empty set).
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(privilege_set a, privilege_set b) { return a.bits_ == b.bits_; }
  friend bool operator!=(privilege_set a, privilege_set b) { return a.bits_ != b.bits_; }

private:
  std::uint16_t bits_ = 0;
};

// The allowlist: SELECT INSERT UPDATE DELETE CREATE DROP INDEX ALTER REFERENCES "CREATE VIEW"
// "SHOW VIEW" TRIGGER EXECUTE and ALL / ALL PRIVILEGES (every one of these — never the server's
// ALL, which includes LOCK TABLES, EVENT, CREATE ROUTINE, ...). Any case, surrounding spaces
// ignored, inner runs of spaces count as one, duplicates merged. Anything else is an `invalid`
// error naming the offending entry. An empty list is valid (the account can log in, nothing more).
[[nodiscard]] result<privilege_set> parse_privileges(const std::vector<std::string>& names);

// The keyword a server reports (PRIVILEGE_TYPE of information_schema.SCHEMA_PRIVILEGES) as a
// privilege; false for others.
[[nodiscard]] bool privilege_from_keyword(const std::string& keyword, privilege& out);

} // namespace dbuser::mysql
