#include "api/credentials.hpp"

#include "api/mysql_user.hpp"
#include "api/rotation.hpp"
#include "common/base64.hpp"

#include <cstdio>

namespace dbuser::api {

using json = nlohmann::json;

namespace {

// Host part of a URL: IPv6 literals go in brackets.
std::string url_host(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

const char* kind_of(const user_spec& spec) {
  return spec.eng == engine::mysql ? mysql_user::kind : kind;
}

const char* owner_label_of(const user_spec& spec) {
  return spec.eng == engine::mysql ? mysql_user::owner_label : owner_label;
}

// Connector/J's sslMode for a tlsMode.
std::string jdbc_mysql_ssl_mode(const std::string& tls) {
  if (tls == "disable")
    return "DISABLED";
  if (tls == "required")
    return "REQUIRED";
  if (tls == "verify-ca")
    return "VERIFY_CA";
  if (tls == "verify-identity")
    return "VERIFY_IDENTITY";
  return "PREFERRED";
}

json owner_reference(const user_spec& spec, const object_meta& owner) {
  return json::array({{{"apiVersion", api_version},
                       {"kind", kind_of(spec)},
                       {"name", owner.name},
                       {"uid", owner.uid},
                       {"controller", true},
                       {"blockOwnerDeletion", true}}});
}

json labels(const user_spec& spec, const object_meta& owner) {
  json l(spec.secret_tmpl.labels);
  l[managed_by_label] = managed_by_value;
  l[owner_label_of(spec)] = owner.name;
  return l;
}

// What the template adds, as recorded in template_keys_annotation.
json template_record(const secret_template& t) {
  json r = {{"annotations", json::array()}, {"data", json::array()}, {"labels", json::array()}};
  for (const auto& [k, v] : t.annotations)
    r["annotations"].push_back(k);
  for (const auto& [k, v] : t.data)
    r["data"].push_back(k);
  for (const auto& [k, v] : t.labels)
    r["labels"].push_back(k);
  return r;
}

bool template_is_empty(const secret_template& t) {
  return t.annotations.empty() && t.data.empty() && t.labels.empty();
}

json annotations(const user_spec& spec, const credentials& c) {
  json a(spec.secret_tmpl.annotations);
  a[rotated_for_annotation] = c.rotated_for;
  a[password_updated_annotation] = c.updated_at;
  if (!c.previous.empty()) {
    a[previous_username_annotation] = c.previous;
    a[previous_valid_until_annotation] = c.previous_until;
  }
  if (!template_is_empty(spec.secret_tmpl))
    a[template_keys_annotation] = template_record(spec.secret_tmpl).dump();
  return a;
}

// What an earlier template recorded on `current` ({} when nothing or unreadable).
json recorded_template(const json* current) {
  if (current == nullptr)
    return json::object();
  const auto annotations = current->value("/metadata/annotations"_json_pointer, json::object());
  const auto text = annotations.is_object() ? annotations.value(template_keys_annotation, "") : "";
  auto r = json::parse(text, nullptr, false);
  return r.is_object() ? r : json::object();
}

bool has_owner_role(const user_spec& spec, const credentials& c) {
  return spec.eng == engine::postgres
         && (spec.strategy == rotation_strategy::alternating || c.login(spec) != spec.username);
}

json data(const user_spec& spec, const credentials& c) {
  const auto& password = c.password;
  const auto& user = c.login(spec);
  json d = {{key_username, base64_encode(user)},
            {key_password, base64_encode(password)},
            {"host", base64_encode(spec.host)},
            {"port", base64_encode(std::to_string(spec.port))},
            {"database", base64_encode(spec.database)},
            {"uri", base64_encode(connection_uri(spec, password, user))},
            {"jdbc-url", base64_encode(jdbc_url(spec, password, user))}};
  if (has_owner_role(spec, c))
    d[key_owner_role] = base64_encode(spec.username);
  if (!spec.secret_tmpl.data.empty()) {
    const auto values = template_values_of(spec, password, user);
    for (const auto& [k, t] : spec.secret_tmpl.data)
      d[k] = base64_encode(render(t, values));
  }
  if (c.pending)
    d[key_pending_password] = base64_encode(*c.pending);
  return d;
}

} // namespace

secret_owner owner_of_secret(const json* secret, const object_meta& owner) {
  if (secret == nullptr || secret->is_null())
    return secret_owner::absent;
  const auto refs = secret->value("/metadata/ownerReferences"_json_pointer, json::array());
  for (const auto& r : refs)
    if (r.value("uid", "") == owner.uid && r.value("controller", false))
      return secret_owner::ours;
  if (released_to(*secret, owner.key()))
    return secret_owner::ours; // adopted by the next write (its patch sets the ownerReference)
  return secret_owner::other;
}

bool released_to(const json& secret, const std::string& owner_key) {
  for (const auto& r : secret.value("/metadata/ownerReferences"_json_pointer, json::array()))
    if (r.value("controller", false))
      return false;
  const auto a = secret.value("/metadata/annotations"_json_pointer, json::object());
  const auto l = secret.value("/metadata/labels"_json_pointer, json::object());
  return a.value(released_annotation, "") == owner_key
         && l.value(managed_by_label, "") == managed_by_value;
}

std::optional<json> release_patch(const json& secret, const object_meta& owner) {
  const auto refs = secret.value("/metadata/ownerReferences"_json_pointer, json::array());
  for (std::size_t i = 0; i < refs.size(); ++i) {
    if (refs[i].value("uid", "") != owner.uid || !refs[i].value("controller", false))
      continue;
    const std::string at = "/metadata/ownerReferences/" + std::to_string(i);
    json patch = json::array({{{"op", "test"}, {"path", at + "/uid"}, {"value", owner.uid}},
                              {{"op", "remove"}, {"path", at}}});
    if (secret.contains("/metadata/annotations"_json_pointer))
      patch.push_back({{"op", "add"},
                       {"path", "/metadata/annotations/database.example.com~1released-by"},
                       {"value", owner.key()}});
    else
      patch.push_back({{"op", "add"},
                       {"path", "/metadata/annotations"},
                       {"value", {{released_annotation, owner.key()}}}});
    return patch;
  }
  return std::nullopt;
}

std::string connection_uri(const user_spec& spec, const std::string& password,
                           const std::string& login) {
  const auto& user = login.empty() ? spec.username : login;
  if (spec.eng == engine::mysql)
    return "mysql://" + percent_encode(user) + ":" + percent_encode(password) + "@"
           + url_host(spec.host) + ":" + std::to_string(spec.port) + "/"
           + percent_encode(spec.database) + "?ssl-mode=" + jdbc_mysql_ssl_mode(spec.ssl_mode);
  return "postgresql://" + percent_encode(user) + ":" + percent_encode(password) + "@"
         + url_host(spec.host) + ":" + std::to_string(spec.port) + "/"
         + percent_encode(spec.database) + "?sslmode=" + spec.ssl_mode;
}

std::string jdbc_url(const user_spec& spec, const std::string& password,
                     const std::string& login) {
  const auto& user = login.empty() ? spec.username : login;
  if (spec.eng == engine::mysql)
    return "jdbc:mysql://" + url_host(spec.host) + ":" + std::to_string(spec.port) + "/"
           + percent_encode(spec.database) + "?user=" + percent_encode(user)
           + "&password=" + percent_encode(password)
           + "&sslMode=" + jdbc_mysql_ssl_mode(spec.ssl_mode);
  return "jdbc:postgresql://" + url_host(spec.host) + ":" + std::to_string(spec.port) + "/"
         + percent_encode(spec.database) + "?user=" + percent_encode(user)
         + "&password=" + percent_encode(password) + "&sslmode=" + spec.ssl_mode;
}

json credentials_secret(const user_spec& spec, const object_meta& owner,
                        const credentials& c) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"type", spec.secret_tmpl.type},
          {"metadata",
           {{"name", spec.secret_name},
            {"namespace", owner.ns},
            {"labels", labels(spec, owner)},
            {"annotations", annotations(spec, c)},
            {"ownerReferences", owner_reference(spec, owner)}}},
          {"data", data(spec, c)}};
}

json credentials_patch(const user_spec& spec, const object_meta& owner, const credentials& c,
                       const json* current) {
  json d = data(spec, c);
  if (!c.pending)
    d[key_pending_password] = nullptr; // merge patch: remove the key
  if (!d.contains(key_owner_role))
    d[key_owner_role] = nullptr;
  json l = labels(spec, owner);
  json a = annotations(spec, c);
  for (const char* k : {previous_username_annotation, previous_valid_until_annotation})
    if (!a.contains(k))
      a[k] = nullptr;
  if (!a.contains(template_keys_annotation))
    a[template_keys_annotation] = nullptr;
  a[released_annotation] = nullptr; // adopted (released_to): no longer released
  // What an earlier template added and this one does not: removed (merge patch null).
  const json before = recorded_template(current);
  for (auto [field, target] : {std::pair<const char*, json*>{"annotations", &a},
                               {"data", &d},
                               {"labels", &l}})
    for (const auto& k : before.value(field, json::array()))
      if (k.is_string() && !target->contains(k.get<std::string>()))
        (*target)[k.get<std::string>()] = nullptr;
  return {{"metadata",
           {{"labels", l}, {"annotations", a}, {"ownerReferences", owner_reference(spec, owner)}}},
          {"data", d}};
}

bool secret_type_differs(const json& secret, const user_spec& spec) {
  return secret.value("type", std::string(secret_type_opaque)) != spec.secret_tmpl.type;
}

template_values template_values_of(const user_spec& spec, const std::string& password,
                                   const std::string& login) {
  const auto& user = login.empty() ? spec.username : login;
  template_values v;
  v.username = user;
  v.password = password;
  v.host = spec.host;
  v.port = std::to_string(spec.port);
  v.database = spec.database;
  v.sslmode = spec.ssl_mode;
  v.uri = connection_uri(spec, password, user);
  v.jdbc_url = jdbc_url(spec, password, user);
  return v;
}

const std::vector<std::string>& default_secret_keys() {
  static const std::vector<std::string> keys = {key_username, key_password, "host", "port",
                                                "database", "uri", "jdbc-url"};
  return keys;
}

std::optional<std::string> secret_value(const json& secret, const std::string& key) {
  auto d = secret.find("data");
  if (d == secret.end() || !d->is_object())
    return std::nullopt;
  auto v = d->find(key);
  if (v == d->end() || !v->is_string())
    return std::nullopt;
  return base64_decode(v->get<std::string>());
}

} // namespace dbuser::api
