#include "mysql/privileges.hpp"

namespace dbuser::mysql {

result<privilege_set> parse_privileges(const std::vector<std::string>& names) {
  auto s = parse_allowlist<privilege>(names);
  if (!s)
    return make_unexpected(make_error(error_kind::invalid, s.error()));
  return *s;
}

} // namespace dbuser::mysql
