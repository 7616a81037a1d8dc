#include "api/postgres_user.hpp"

#include "api/credentials.hpp"
#include "api/mysql_user.hpp"
#include "pg/privileges.hpp"
#include "pg/validation.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

namespace dbuser::api {

namespace {

using json = nlohmann::json;

unexpected<spec_error> refuse(std::string message) {
  return make_unexpected(spec_error{std::move(message)});
}

// Reads an optional string field; a present value of another type is an error.
bool read_string(const json& obj, const char* field, std::string& out, std::string& err,
                 const std::string& path) {
  auto i = obj.find(field);
  if (i == obj.end() || i->is_null())
    return true;
  if (!i->is_string()) {
    err = path + field + " must be a string";
    return false;
  }
  out = i->get<std::string>();
  return true;
}

bool read_string_list(const json& obj, const char* field, std::vector<std::string>& out,
                      std::string& err, const std::string& path) {
  auto i = obj.find(field);
  if (i == obj.end() || i->is_null())
    return true;
  if (!i->is_array()) {
    err = path + field + " must be a list of strings";
    return false;
  }
  for (const auto& v : *i) {
    if (!v.is_string()) {
      err = path + field + " must be a list of strings";
      return false;
    }
    out.push_back(v.get<std::string>());
  }
  return true;
}

// A list that may be absent (nullopt) or given, even empty.
bool read_optional_list(const json& obj, const char* field,
                        std::optional<std::vector<std::string>>& out, std::string& err,
                        const std::string& path) {
  auto i = obj.find(field);
  if (i == obj.end() || i->is_null())
    return true;
  out.emplace();
  return read_string_list(obj, field, *out, err, path);
}

bool read_bool(const json& obj, const char* field, bool& out, std::string& err,
               const std::string& path) {
  auto i = obj.find(field);
  if (i == obj.end() || i->is_null())
    return true;
  if (!i->is_boolean()) {
    err = path + field + " must be true or false";
    return false;
  }
  out = i->get<bool>();
  return true;
}

bool read_int(const json& obj, const char* field, int& out, std::string& err,
              const std::string& path) {
  auto i = obj.find(field);
  if (i == obj.end() || i->is_null())
    return true;
  if (!i->is_number_integer()) {
    err = path + field + " must be an integer";
    return false;
  }
  auto v = i->get<std::int64_t>();
  if (v < -1 || v > 1000000) {
    err = path + field + " is out of range";
    return false;
  }
  out = static_cast<int>(v);
  return true;
}

// A DNS-1123 subdomain: what Kubernetes accepts as a Secret name.
bool is_dns_subdomain(const std::string& s) {
  if (s.empty() || s.size() > 253)
    return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back()))
    return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (alnum(c) || c == '-')
      continue;
    if (c == '.' && alnum(s[i - 1]) && alnum(s[i + 1]))
      continue;
    return false;
  }
  return true;
}

// A host name or IP address: letters, digits, dots, colons (IPv6) and dashes only.
bool is_host(const std::string& h) {
  if (h.empty() || h.size() > 253)
    return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == ':';
  });
}

} // namespace

bool object_meta::has_finalizer(const std::string& f) const {
  return std::find(finalizers.begin(), finalizers.end(), f) != finalizers.end();
}

std::string object_meta::annotation(const std::string& k) const {
  auto i = annotations.find(k);
  return i == annotations.end() ? std::string() : i->second;
}

object_meta parse_meta(const json& object) {
  object_meta m;
  auto md = object.find("metadata");
  if (md == object.end() || !md->is_object())
    return m;
  m.ns = md->value("namespace", "");
  m.name = md->value("name", "");
  m.uid = md->value("uid", "");
  m.resource_version = md->value("resourceVersion", "");
  m.generation = md->value("generation", std::int64_t{0});
  m.deleting = md->contains("deletionTimestamp") && !(*md)["deletionTimestamp"].is_null();
  if (auto f = md->find("finalizers"); f != md->end() && f->is_array())
    for (const auto& v : *f)
      if (v.is_string())
        m.finalizers.push_back(v.get<std::string>());
  if (auto a = md->find("annotations"); a != md->end() && a->is_object())
    for (const auto& [k, v] : a->items())
      if (v.is_string())
        m.annotations[k] = v.get<std::string>();
  return m;
}

std::string reconcile_inputs(const json& object) {
  json inputs = json::array();
  for (const char* p : {"/metadata/uid", "/metadata/generation", "/metadata/deletionTimestamp",
                        "/metadata/finalizers", "/metadata/annotations", "/metadata/labels"}) {
    const auto ptr = json::json_pointer(p);
    inputs.push_back(object.contains(ptr) ? object.at(ptr) : json());
  }
  return inputs.dump();
}

std::optional<std::chrono::seconds> parse_duration(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) != 0
                               || text[i] == '.'))
      ++i;
    if (start == i || i == text.size())
      return std::nullopt;
    double value = 0;
    try {
      size_t used = 0;
      value = std::stod(text.substr(start, i - start), &used);
      if (used != i - start)
        return std::nullopt;
    } catch (const std::exception&) {
      return std::nullopt;
    }
    switch (text[i++]) {
      case 'h': total += value * 3600; break;
      case 'm': total += value * 60; break;
      case 's': total += value; break;
      default: return std::nullopt;
    }
  }
  if (total > 10.0 * 365 * 24 * 3600)
    return std::nullopt;
  return std::chrono::seconds(static_cast<std::int64_t>(std::llround(total)));
}

// Why a value is refused (empty: accepted), for the engine-specific rules below.
using verdict = std::optional<std::string>;

template <class Result>
verdict verdict_of(const Result& r) {
  return r ? verdict() : verdict(r.error().message);
}

expected<user_spec, spec_error> parse_user_spec(const json& object, const engine_rules& rules) {
  auto s = object.find("spec");
  if (s == object.end() || !s->is_object())
    return refuse("spec is missing");
  user_spec spec;
  spec.eng = rules.eng;
  spec.credentials = rules.has_credentials;
  spec.port = rules.default_port;
  spec.ssl_mode = rules.default_tls_mode;
  std::string err;
  const std::string p = "spec.";
  auto verdict_check = [&err](const verdict& v, const std::string& field) {
    if (!v)
      return true;
    err = field + ": " + *v;
    return false;
  };
  const std::string name_field = p + rules.name_field;
  if (!rules.has_credentials)
    for (const char* field : {"secretName", "passwordRotation", "passwordPolicy", "secretTemplate"})
      if (s->contains(field))
        return refuse(p + field + " is not supported for this kind: it has no credentials");
  bool ok = read_string(*s, rules.name_field, spec.username, err, p)
            && read_string(*s, "database", spec.database, err, p)
            && read_string(*s, "host", spec.host, err, p)
            && read_string(*s, rules.tls_field, spec.ssl_mode, err, p)
            && read_string(*s, "secretName", spec.secret_name, err, p)
            && read_string(*s, "accountHost", spec.account_host, err, p)
            && read_string_list(*s, "privileges", spec.privileges, err, p)
            && read_string_list(*s, "memberOf", spec.member_of, err, p)
            && read_string_list(*s, "defaultPrivilegesFor", spec.default_privileges_for, err, p)
            && read_string_list(*s, "ownedSchemas", spec.owned_schemas, err, p)
            && read_bool(*s, "databaseOwner", spec.database_owner, err, p)
            && read_int(*s, "port", spec.port, err, p)
            && read_int(*s, "connectionLimit", spec.connection_limit, err, p);
  if (!ok)
    return refuse(err);

  if (auto a = s->find("adminSecretRef"); a != s->end() && a->is_object()) {
    const std::string ap = "spec.adminSecretRef.";
    if (!read_string(*a, "name", spec.admin.name, err, ap)
        || !read_string(*a, "usernameKey", spec.admin.username_key, err, ap)
        || !read_string(*a, "passwordKey", spec.admin.password_key, err, ap))
      return refuse(err);
  }
  if (spec.admin.name.empty())
    return refuse("spec.adminSecretRef.name is required");
  if (auto c = s->find("caSecretRef"); c != s->end() && c->is_object()) {
    secret_key_ref ref;
    const std::string cp = "spec.caSecretRef.";
    if (!read_string(*c, "name", ref.name, err, cp) || !read_string(*c, "key", ref.key, err, cp))
      return refuse(err);
    if (ref.name.empty())
      return refuse("spec.caSecretRef.name is required");
    spec.ca_secret_ref = ref;
  }
  // defaultPrivilegesFor: role names, PostgreSQL only, not the user itself (checked below).
  auto check_creators = [&](const std::vector<std::string>& creators, const std::string& field) {
    if (!creators.empty() && !rules.has_schema) {
      err = field + " is not supported for this engine";
      return false;
    }
    for (const auto& c : creators)
      if (!verdict_check(rules.user(c), field))
        return false;
    return true;
  };
  if (!check_creators(spec.default_privileges_for, "spec.defaultPrivilegesFor"))
    return refuse(err);
  // sequencePrivileges, schemaPrivileges and functionPrivileges: PostgreSQL only, from their
  // allowlists (an empty list is valid).
  auto check_list = [&](const std::vector<std::string>& list, const std::string& field,
                        auto parse) {
    if (list.empty())
      return true;
    if (!rules.has_schema) {
      err = field + " is not supported for this engine";
      return false;
    }
    if (auto parsed = parse(list); !parsed) {
      err = field + ": " + parsed.error().message;
      return false;
    }
    return true;
  };
  auto check_schema_entry = [&](const std::vector<std::string>& schema_privileges,
                                const std::vector<std::string>& function_privileges,
                                const std::string& at) {
    return check_list(schema_privileges, at + "schemaPrivileges", pg::parse_schema_privileges)
           && check_list(function_privileges, at + "functionPrivileges",
                         pg::parse_function_privileges);
  };
  if (!read_optional_list(*s, "sequencePrivileges", spec.sequence_privileges, err, p)
      || (spec.sequence_privileges
          && !check_list(*spec.sequence_privileges, p + "sequencePrivileges",
                         pg::parse_sequence_privileges))
      || !read_string_list(*s, "schemaPrivileges", spec.schema_privileges, err, p)
      || !read_string_list(*s, "functionPrivileges", spec.function_privileges, err, p)
      || !check_schema_entry(spec.schema_privileges, spec.function_privileges, p))
    return refuse(err);
  if (auto g = s->find("grants"); g != s->end() && g->is_array()) {
    std::set<std::pair<std::string, std::string>> seen;
    for (size_t i = 0; i < g->size(); ++i) {
      const auto& item = (*g)[i];
      const std::string gp = "spec.grants[" + std::to_string(i) + "].";
      if (!item.is_object())
        return refuse(gp + " must be an object");
      grant gr;
      if (!read_string(item, "database", gr.database, err, gp)
          || !read_string(item, "schema", gr.schema, err, gp)
          || !read_string_list(item, "privileges", gr.privileges, err, gp)
          || !read_string_list(item, "defaultPrivilegesFor", gr.default_privileges_for, err, gp)
          || !read_optional_list(item, "sequencePrivileges", gr.sequence_privileges, err, gp)
          || !read_string_list(item, "schemaPrivileges", gr.schema_privileges, err, gp)
          || !read_string_list(item, "functionPrivileges", gr.function_privileges, err, gp))
        return refuse(err);
      if (!check_creators(gr.default_privileges_for, gp + "defaultPrivilegesFor")
          || (gr.sequence_privileges
              && !check_list(*gr.sequence_privileges, gp + "sequencePrivileges",
                             pg::parse_sequence_privileges))
          || !check_schema_entry(gr.schema_privileges, gr.function_privileges, gp))
        return refuse(err);
      if (!verdict_check(rules.database(gr.database), gp + "database")
          || (rules.has_schema && !verdict_check(rules.schema(gr.schema), gp + "schema"))
          || !verdict_check(rules.privileges(gr.privileges), gp + "privileges"))
        return refuse(err);
      if (!seen.insert({gr.database, gr.schema}).second)
        return refuse(gp + "database: " + gr.database
                      + (rules.has_schema ? "." + gr.schema : "") + " is listed twice");
      if (gr.database == spec.database && (!rules.has_schema || gr.schema == "public"))
        return refuse(gp + "database: " + gr.database
                      + " is already covered by spec.database and spec.privileges");
      spec.grants.push_back(std::move(gr));
    }
  }
  if (auto r = s->find("passwordRotation"); r != s->end() && r->is_object()) {
    std::string interval;
    if (!read_string(*r, "interval", interval, err, "spec.passwordRotation."))
      return refuse(err);
    if (!interval.empty()) {
      auto d = parse_duration(interval);
      if (!d)
        return refuse("spec.passwordRotation.interval: \"" + interval
                      + "\" is not a duration such as 720h or 90m");
      if (*d < min_rotation_interval)
        return refuse("spec.passwordRotation.interval: must be at least "
                      + std::to_string(min_rotation_interval.count()) + "s");
      spec.rotation_interval = d;
    }
    std::string strategy = "InPlace";
    if (!read_string(*r, "strategy", strategy, err, "spec.passwordRotation."))
      return refuse(err);
    if (strategy == "Alternating")
      spec.strategy = rotation_strategy::alternating;
    else if (strategy != "InPlace")
      return refuse("spec.passwordRotation.strategy: must be InPlace or Alternating, not \""
                    + strategy + "\"");
    if (spec.strategy == rotation_strategy::alternating && rules.eng != engine::postgres)
      return refuse("spec.passwordRotation.strategy: Alternating is for PostgresUser only (MariaDB "
                    "has no role that could own the objects of two accounts); use InPlace");
    std::string overlap;
    if (!read_string(*r, "overlap", overlap, err, "spec.passwordRotation."))
      return refuse(err);
    if (!overlap.empty()) {
      auto d = parse_duration(overlap);
      if (!d)
        return refuse("spec.passwordRotation.overlap: \"" + overlap
                      + "\" is not a duration such as 24h or 90m");
      if (*d < min_rotation_overlap)
        return refuse("spec.passwordRotation.overlap: must be at least 1m");
      spec.overlap = *d;
    }
    if (spec.rotation_interval && spec.overlap > *spec.rotation_interval) {
      if (!overlap.empty())
        return refuse("spec.passwordRotation.overlap: must not be longer than the interval");
      spec.overlap = *spec.rotation_interval; // the default yields to a shorter interval
    }
    if (spec.strategy == rotation_strategy::alternating
        && spec.username.size() + alternating_suffix_size > 63)
      return refuse(name_field + ": at most " + std::to_string(63 - alternating_suffix_size)
                    + " characters with strategy Alternating (its login roles add \"-a\" and "
                      "\"-b\")");
  }
  std::string policy = "Delete";
  if (!read_string(*s, "deletionPolicy", policy, err, p))
    return refuse(err);
  if (policy == "Retain")
    spec.deletion = deletion_policy::retain;
  else if (policy != "Delete")
    return refuse("spec.deletionPolicy: must be Delete or Retain, not \"" + policy + "\"");

  if (!verdict_check(rules.user(spec.username), name_field)
      || !verdict_check(rules.database(spec.database), "spec.database")
      || !verdict_check(rules.privileges(spec.privileges), "spec.privileges"))
    return refuse(err);
  if ((spec.database_owner || !spec.owned_schemas.empty()) && !rules.has_schema)
    return refuse(std::string(spec.database_owner ? "spec.databaseOwner" : "spec.ownedSchemas")
                  + " is not supported for this engine");
  for (size_t i = 0; i < spec.owned_schemas.size(); ++i) {
    const auto& schema = spec.owned_schemas[i];
    const std::string at = "spec.ownedSchemas[" + std::to_string(i) + "]";
    if (!verdict_check(rules.schema(schema), at))
      return refuse(err);
    if (schema == "public")
      return refuse(at + ": schema public belongs to the database's owner (PostgreSQL 15+): use "
                         "spec.databaseOwner: true");
    if (std::find(spec.owned_schemas.begin(), spec.owned_schemas.begin() + i, schema)
        != spec.owned_schemas.begin() + i)
      return refuse(at + ": " + schema + " is listed twice");
  }
  if (!spec.member_of.empty() && !rules.has_member_of)
    return refuse("spec.memberOf is not supported for this engine");
  for (const auto& m : spec.member_of)
    if (!verdict_check(rules.member_of(m), "spec.memberOf"))
      return refuse(err);
  if (std::find(spec.member_of.begin(), spec.member_of.end(), spec.username)
      != spec.member_of.end())
    return refuse("spec.memberOf: a role cannot be a member of itself");
  auto names_user = [&](const std::vector<std::string>& creators) {
    return std::find(creators.begin(), creators.end(), spec.username) != creators.end();
  };
  if (names_user(spec.default_privileges_for)
      || std::any_of(spec.grants.begin(), spec.grants.end(),
                     [&](const grant& g) { return names_user(g.default_privileges_for); }))
    return refuse("defaultPrivilegesFor: " + spec.username
                  + " is the user itself; the tables it creates are its own already");
  if (rules.account_host && !verdict_check(rules.account_host(spec.account_host), "spec.accountHost"))
    return refuse(err);
  if (!is_host(spec.host))
    return refuse("spec.host: \"" + spec.host + "\" is not a host name or IP address");
  if (spec.port < 1 || spec.port > 65535)
    return refuse("spec.port: must be between 1 and 65535");
  if (std::find(rules.tls_modes.begin(), rules.tls_modes.end(), spec.ssl_mode)
      == rules.tls_modes.end())
    return refuse("spec." + std::string(rules.tls_field) + ": \"" + spec.ssl_mode
                  + "\" is not one of the supported modes");
  if (rules.needs_ca(spec.ssl_mode) && !spec.ca_secret_ref)
    return refuse("spec.caSecretRef is required with " + std::string(rules.tls_field) + " "
                  + spec.ssl_mode);
  if (rules.has_credentials && !is_dns_subdomain(spec.secret_name))
    return refuse("spec.secretName: \"" + spec.secret_name
                  + "\" is not a valid Secret name (a lowercase DNS subdomain)");
  if (auto pp = s->find("passwordPolicy"); pp != s->end() && !pp->is_null()) {
    auto password_policy = parse_password_policy(*pp, "spec.passwordPolicy");
    if (!password_policy)
      return refuse(password_policy.error());
    spec.password_policy = std::move(*password_policy);
  }
  auto tmpl = parse_secret_template(s->value("secretTemplate", json()), default_secret_keys(),
                                    {managed_by_label, owner_label, mysql_user::owner_label});
  if (!tmpl)
    return refuse(tmpl.error());
  spec.secret_tmpl = std::move(*tmpl);
  return spec;
}

const engine_rules& postgres_rules() {
  static const engine_rules rules = [] {
    engine_rules r;
    r.eng = engine::postgres;
    r.default_port = 5432;
    r.default_tls_mode = "prefer";
    r.tls_field = "sslMode";
    r.tls_modes = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
    r.needs_ca = [](const std::string& m) { return m == "verify-ca" || m == "verify-full"; };
    r.user = [](const std::string& n) { return verdict_of(pg::validate_role_name(n, "")); };
    r.member_of = [](const std::string& n) { return verdict_of(pg::validate_member_of(n, "")); };
    r.database = [](const std::string& n) { return verdict_of(pg::validate_database_name(n)); };
    r.schema = [](const std::string& n) { return verdict_of(pg::validate_schema_name(n)); };
    r.privileges = [](const std::vector<std::string>& p) {
      return verdict_of(pg::parse_privileges(p));
    };
    r.has_schema = true;
    r.has_member_of = true;
    return r;
  }();
  return rules;
}

expected<user_spec, spec_error> parse_spec(const json& object) {
  return parse_user_spec(object, postgres_rules());
}

pg::desired_role desired_role(const user_spec& spec, const std::string& owner_key) {
  pg::desired_role d;
  d.name = spec.username;
  d.marker = pg::owner_marker(owner_key);
  d.connection_limit = spec.connection_limit;
  d.member_of = spec.member_of;
  std::sort(d.member_of.begin(), d.member_of.end());
  d.member_of.erase(std::unique(d.member_of.begin(), d.member_of.end()), d.member_of.end());
  pg::grant_scope main;
  main.database = spec.database;
  main.privileges = pg::parse_privileges(spec.privileges).value();
  main.create_database = true;
  main.default_creators = spec.default_privileges_for;
  if (spec.sequence_privileges)
    main.sequence_privileges = pg::parse_sequence_privileges(*spec.sequence_privileges).value();
  main.schema_privileges = pg::parse_schema_privileges(spec.schema_privileges).value();
  main.function_privileges = pg::parse_function_privileges(spec.function_privileges).value();
  d.grants.push_back(std::move(main));
  d.owns_database = spec.database_owner;
  d.owned_schemas = spec.owned_schemas;
  for (const auto& g : spec.grants) {
    pg::grant_scope extra;
    extra.database = g.database;
    extra.schema = g.schema;
    extra.privileges = pg::parse_privileges(g.privileges).value();
    extra.create_database = true;
    extra.default_creators = g.default_privileges_for;
    if (g.sequence_privileges)
      extra.sequence_privileges = pg::parse_sequence_privileges(*g.sequence_privileges).value();
    extra.schema_privileges = pg::parse_schema_privileges(g.schema_privileges).value();
    extra.function_privileges = pg::parse_function_privileges(g.function_privileges).value();
    d.grants.push_back(std::move(extra));
  }
  return d;
}

} // namespace dbuser::api
