#include "mysql/validation.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace dbuser::mysql {

namespace {

bool lower_start(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
bool lower_rest(char c) { return lower_start(c) || (c >= '0' && c <= '9'); }
bool any_start(char c) { return lower_start(c) || (c >= 'A' && c <= 'Z'); }
bool any_rest(char c) { return any_start(c) || (c >= '0' && c <= '9') || c == '-'; }
bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '%'
         || c == '.' || c == '_' || c == ':' || c == '-';
}

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

result<void> check_shape(std::string_view what, std::string_view name, std::size_t max_bytes,
                         bool (*start)(char), bool (*rest)(char), const char* pattern,
                         const char* too_long) {
  if (name.empty())
    return make_unexpected(make_error(error_kind::invalid, std::string(what) + " is empty"));
  if (name.size() > max_bytes)
    return make_unexpected(invalid(what, name,
                                   "is " + std::to_string(name.size()) + " bytes long: "
                                     + too_long));
  bool ok = start(name.front());
  for (char c : name.substr(1))
    ok = ok && rest(c);
  if (!ok)
    return make_unexpected(invalid(what, name, std::string("must match ") + pattern));
  return {};
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

} // namespace

result<void> validate_user_name(std::string_view name, std::string_view admin_user) {
  // Reserved names first: mysql.sys and mariadb.sys would fail the pattern with a less useful
  // reason.
  if (name.substr(0, 6) == "mysql." || name == "mariadb.sys")
    return make_unexpected(
      invalid("user name", name, "is reserved: it is a system account of MySQL/MariaDB"));
  if (auto r = check_shape("user name", name, max_user_bytes, lower_start, lower_rest,
                           "^[a-z_][a-z0-9_]*$",
                           "MySQL allows at most 32 (MariaDB 80); the operator keeps to 32");
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
  if (auto r = check_shape("database name", name, max_database_bytes, any_start, any_rest,
                           "^[A-Za-z_][A-Za-z0-9_-]*$", "the server allows at most 64");
      !r)
    return r;
  const auto l = lower(name); // lower_case_table_names may fold case: compare folded
  if (l == "mysql" || l == "information_schema" || l == "performance_schema" || l == "sys")
    return make_unexpected(invalid("database name", name, "is a system database"));
  if (l == bookkeeping_database)
    return make_unexpected(
      invalid("database name", name, "is where the operator records the accounts it owns"));
  return {};
}

} // namespace dbuser::mysql
