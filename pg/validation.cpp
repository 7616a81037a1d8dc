#include "pg/validation.hpp"

#include <string>

namespace dbuser::pg {

namespace {

bool lower_start(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
bool lower_rest(char c) { return lower_start(c) || (c >= '0' && c <= '9'); }
bool any_start(char c) { return lower_start(c) || (c >= 'A' && c <= 'Z'); }
bool any_rest(char c) { return any_start(c) || (c >= '0' && c <= '9') || c == '-'; }

error invalid(std::string_view what, std::string_view name, const std::string& why) {
  // The name is quoted for the reader only, shortened so that a hostile value stays readable.
  std::string shown(name.substr(0, 80));
  for (auto& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = '?';
  return make_error(error_kind::invalid,
                    std::string(what) + " \"" + shown + (name.size() > 80 ? "...\"" : "\"") + " "
                      + why);
}

result<void> check_shape(std::string_view what, std::string_view name, bool (*start)(char),
                         bool (*rest)(char), const char* pattern) {
  if (name.empty())
    return make_unexpected(make_error(error_kind::invalid, std::string(what) + " is empty"));
  if (name.size() > max_identifier_bytes)
    return make_unexpected(invalid(what, name,
                                   "is " + std::to_string(name.size())
                                     + " bytes long: PostgreSQL keeps only 63 and would silently "
                                       "truncate it"));
  bool ok = start(name.front());
  for (char c : name.substr(1))
    ok = ok && rest(c);
  if (!ok)
    return make_unexpected(
      invalid(what, name, std::string("must match ") + pattern));
  return {};
}

} // namespace

result<void> validate_role_name(std::string_view name, std::string_view admin_user) {
  if (auto r = check_shape("role name", name, lower_start, lower_rest, "^[a-z_][a-z0-9_]*$"); !r)
    return r;
  if (name.substr(0, 3) == "pg_")
    return make_unexpected(
      invalid("role name", name, "is reserved: names starting with pg_ belong to PostgreSQL"));
  if (name == "postgres")
    return make_unexpected(invalid("role name", name, "is reserved: it is the bootstrap superuser"));
  if (name == "public")
    return make_unexpected(invalid("role name", name, "is reserved: PUBLIC means every role"));
  if (name == admin_user)
    return make_unexpected(
      invalid("role name", name, "is the admin user the operator acts as"));
  return {};
}

const predefined_role* find_predefined_role(std::string_view name) {
  static constexpr predefined_role roles[] = {
    {"pg_monitor", 100000},          {"pg_read_all_stats", 100000},
    {"pg_stat_scan_tables", 100000}, {"pg_signal_backend", 100000},
    {"pg_read_all_data", 140000},    {"pg_write_all_data", 140000},
  };
  for (const auto& r : roles)
    if (r.name == name)
      return &r;
  return nullptr;
}

result<void> validate_member_of(std::string_view name, std::string_view admin_user) {
  if (find_predefined_role(name) != nullptr)
    return {};
  auto r = validate_role_name(name, admin_user);
  if (!r && name.substr(0, 3) == "pg_")
    return make_unexpected(invalid(
      "role name", name,
      "is not a predefined role memberOf grants: use pg_read_all_data, pg_write_all_data, "
      "pg_monitor, pg_read_all_stats, pg_stat_scan_tables or pg_signal_backend (the others give "
      "access to server files or programs)"));
  return r;
}

result<void> validate_database_name(std::string_view name) {
  if (auto r =
        check_shape("database name", name, any_start, any_rest, "^[A-Za-z_][A-Za-z0-9_-]*$");
      !r)
    return r;
  if (name == "template0" || name == "template1")
    return make_unexpected(invalid("database name", name, "is a template database"));
  return {};
}

result<void> validate_schema_name(std::string_view name) {
  if (auto r = check_shape("schema name", name, any_start, any_rest, "^[A-Za-z_][A-Za-z0-9_-]*$");
      !r)
    return r;
  if (name.substr(0, 3) == "pg_" || name == "information_schema")
    return make_unexpected(invalid("schema name", name, "is a system schema"));
  return {};
}

} // namespace dbuser::pg
