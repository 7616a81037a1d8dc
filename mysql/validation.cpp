#include "mysql/validation.hpp"

#include "common/names.hpp"
#include "common/text.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace dbuser::mysql {

namespace {

bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '%'
         || c == '.' || c == '_' || c == ':' || c == '-';
}

error invalid(std::string_view what, std::string_view name, const std::string& why) {
  return make_error(error_kind::invalid, names::refused(what, name, why));
}

} // namespace

result<void> validate_user_name(std::string_view name, std::string_view admin_user) {
  // Reserved names first: mysql.sys and mariadb.sys would fail the pattern with a less useful
  // reason.
  if (name.substr(0, 6) == "mysql." || name == "mariadb.sys")
    return make_unexpected(
      invalid("user name", name, "is reserved: it is a system account of MySQL/MariaDB"));
  if (auto r = names::check_shape<error>(
        "user name", name,
        {max_user_bytes, names::lower_start, names::lower_rest, "^[a-z_][a-z0-9_]*$",
         "MySQL allows at most 32 (MariaDB 80); the operator keeps to 32"});
      !r)
    return r;
  if (name == "root")
    return make_unexpected(invalid("user name", name, "is reserved: it is the superuser"));
  if (name == "mysql" || name == "mariadb")
    return make_unexpected(
      invalid("user name", name, "is reserved: it owns system objects on some installations"));
  if (name == admin_user)
    return make_unexpected(invalid("user name", name, "is the admin user the operator acts as"));
  return {};
}

result<void> validate_account_host(std::string_view host) {
  if (host.empty())
    return make_unexpected(make_error(
      error_kind::invalid, "accountHost is empty: use % for any host (the default)"));
  if (host.size() > max_host_bytes)
    return make_unexpected(invalid("accountHost", host,
                                   "is " + std::to_string(host.size())
                                     + " bytes long: the server allows at most 255"));
  if (!std::all_of(host.begin(), host.end(), host_char))
    return make_unexpected(invalid("accountHost", host, "must match ^[A-Za-z0-9%._:-]+$"));
  return {};
}

result<void> validate_database_name(std::string_view name) {
  if (auto r = names::check_shape<error>("database name", name,
                                         {max_database_bytes, names::any_start, names::any_rest,
                                          "^[A-Za-z_][A-Za-z0-9_-]*$",
                                          "the server allows at most 64"});
      !r)
    return r;
  const auto l = ascii_lower(name); // lower_case_table_names may fold case: compare folded
  if (l == "mysql" || l == "information_schema" || l == "performance_schema" || l == "sys")
    return make_unexpected(invalid("database name", name, "is a system database"));
  if (l == bookkeeping_database)
    return make_unexpected(
      invalid("database name", name, "is where the operator records the accounts it owns"));
  return {};
}

} // namespace dbuser::mysql
