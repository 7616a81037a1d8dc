#include "pg/validation.hpp"

#include "common/names.hpp"

#include <string>

namespace dbuser::pg {

namespace {

error invalid(std::string_view what, std::string_view name, const std::string& why) {
  return make_error(error_kind::invalid, names::refused(what, name, why));
}

// A role's name, and a database's or a schema's.
const char* const too_long = "PostgreSQL keeps only 63 and would silently truncate it";
const names::shape role_shape{max_identifier_bytes, names::lower_start, names::lower_rest,
                              "^[a-z_][a-z0-9_]*$", too_long};
const names::shape object_shape{max_identifier_bytes, names::any_start, names::any_rest,
                                "^[A-Za-z_][A-Za-z0-9_-]*$", too_long};

} // namespace

result<void> validate_role_name(std::string_view name, std::string_view admin_user) {
  if (auto r = names::check_shape<error>("role name", name, role_shape); !r)
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
  if (auto r = names::check_shape<error>("database name", name, object_shape); !r)
    return r;
  if (name == "template0" || name == "template1")
    return make_unexpected(invalid("database name", name, "is a template database"));
  return {};
}

result<void> validate_schema_name(std::string_view name) {
  if (auto r = names::check_shape<error>("schema name", name, object_shape); !r)
    return r;
  if (name.substr(0, 3) == "pg_" || name == "information_schema")
    return make_unexpected(invalid("schema name", name, "is a system schema"));
  return {};
}

} // namespace dbuser::pg
