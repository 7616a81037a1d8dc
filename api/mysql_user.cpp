#include "api/mysql_user.hpp"

#include "mysql/privileges.hpp"
#include "mysql/validation.hpp"

#include <nlohmann/json.hpp>

namespace dbuser::api::mysql_user {

namespace {

template <class Result>
std::optional<std::string> verdict_of(const Result& r) {
  return r ? std::optional<std::string>() : std::optional<std::string>(r.error().message);
}

} // namespace

expected<user_spec, spec_error> parse_spec(const nlohmann::json& object) {
  static const engine_rules rules = [] {
    engine_rules r;
    r.eng = engine::mysql;
    r.default_port = 3306;
    r.default_tls_mode = "preferred";
    r.tls_field = "tlsMode";
    r.tls_modes = {"disable", "preferred", "required", "verify-ca", "verify-identity"};
    r.needs_ca = [](const std::string& m) { return m == "verify-ca" || m == "verify-identity"; };
    r.user = [](const std::string& n) { return verdict_of(mysql::validate_user_name(n, "")); };
    r.database = [](const std::string& n) {
      return verdict_of(mysql::validate_database_name(n));
    };
    r.account_host = [](const std::string& h) {
      return verdict_of(mysql::validate_account_host(h));
    };
    r.privileges = [](const std::vector<std::string>& p) {
      return verdict_of(mysql::parse_privileges(p));
    };
    r.has_schema = false;
    r.has_member_of = false;
    return r;
  }();
  return parse_user_spec(object, rules);
}

mysql::desired_account desired_account(const user_spec& spec, const std::string& owner_key) {
  mysql::desired_account d;
  d.user = spec.username;
  d.host = spec.account_host;
  d.owner = owner_key;
  d.max_user_connections = spec.connection_limit < 0 ? 0 : spec.connection_limit;
  mysql::database_grant main;
  main.database = spec.database;
  main.privileges = mysql::parse_privileges(spec.privileges).value();
  main.create_database = true;
  d.grants.push_back(std::move(main));
  for (const auto& g : spec.grants) {
    mysql::database_grant extra;
    extra.database = g.database;
    extra.privileges = mysql::parse_privileges(g.privileges).value();
    extra.create_database = true;
    d.grants.push_back(std::move(extra));
  }
  return d;
}

} // namespace dbuser::api::mysql_user
