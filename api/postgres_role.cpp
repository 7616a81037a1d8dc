#include "api/postgres_role.hpp"

#include <nlohmann/json.hpp>

namespace dbuser::api::postgres_role {

expected<user_spec, spec_error> parse_spec(const nlohmann::json& object) {
  static const engine_rules rules = [] {
    engine_rules r = postgres_rules();
    r.name_field = "roleName";
    r.has_credentials = false;
    return r;
  }();
  return parse_user_spec(object, rules);
}

std::string owner_key(const object_meta& meta) {
  return std::string(kind) + " " + meta.key();
}

pg::desired_role desired_role(const user_spec& spec, const std::string& owner_key) {
  auto d = api::desired_role(spec, owner_key);
  d.login = pg::login_mode::disabled;
  d.logins.clear();
  d.verifier.clear();
  d.set_password = false;
  d.connection_limit = -1;
  return d;
}

} // namespace dbuser::api::postgres_role
