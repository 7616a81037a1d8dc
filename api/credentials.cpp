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
  return {{managed_by_label, managed_by_value}, {owner_label_of(spec), owner.name}};
}

json annotations(const credentials& c) {
  return {{rotated_for_annotation, c.rotated_for}, {password_updated_annotation, c.updated_at}};
}

json data(const user_spec& spec, const std::string& password,
          const std::optional<std::string>& pending) {
  json d = {{key_username, base64_encode(spec.username)},
            {key_password, base64_encode(password)},
            {"host", base64_encode(spec.host)},
            {"port", base64_encode(std::to_string(spec.port))},
            {"database", base64_encode(spec.database)},
            {"uri", base64_encode(connection_uri(spec, password))},
            {"jdbc-url", base64_encode(jdbc_url(spec, password))}};
  if (pending)
    d[key_pending_password] = base64_encode(*pending);
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
  return secret_owner::other;
}

std::string percent_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string connection_uri(const user_spec& spec, const std::string& password) {
  if (spec.eng == engine::mysql)
    return "mysql://" + percent_encode(spec.username) + ":" + percent_encode(password) + "@"
           + url_host(spec.host) + ":" + std::to_string(spec.port) + "/"
           + percent_encode(spec.database) + "?ssl-mode=" + jdbc_mysql_ssl_mode(spec.ssl_mode);
  return "postgresql://" + percent_encode(spec.username) + ":" + percent_encode(password) + "@"
         + url_host(spec.host) + ":" + std::to_string(spec.port) + "/"
         + percent_encode(spec.database) + "?sslmode=" + spec.ssl_mode;
}

std::string jdbc_url(const user_spec& spec, const std::string& password) {
  if (spec.eng == engine::mysql)
    return "jdbc:mysql://" + url_host(spec.host) + ":" + std::to_string(spec.port) + "/"
           + percent_encode(spec.database) + "?user=" + percent_encode(spec.username)
           + "&password=" + percent_encode(password)
           + "&sslMode=" + jdbc_mysql_ssl_mode(spec.ssl_mode);
  return "jdbc:postgresql://" + url_host(spec.host) + ":" + std::to_string(spec.port) + "/"
         + percent_encode(spec.database) + "?user=" + percent_encode(spec.username)
         + "&password=" + percent_encode(password) + "&sslmode=" + spec.ssl_mode;
}

json credentials_secret(const user_spec& spec, const object_meta& owner,
                        const credentials& c) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"type", "Opaque"},
          {"metadata",
           {{"name", spec.secret_name},
            {"namespace", owner.ns},
            {"labels", labels(spec, owner)},
            {"annotations", annotations(c)},
            {"ownerReferences", owner_reference(spec, owner)}}},
          {"data", data(spec, c.password, c.pending)}};
}

json credentials_patch(const user_spec& spec, const object_meta& owner,
                       const credentials& c) {
  json d = data(spec, c.password, c.pending);
  if (!c.pending)
    d[key_pending_password] = nullptr; // merge patch: remove the key
  return {{"metadata",
           {{"labels", labels(spec, owner)},
            {"annotations", annotations(c)},
            {"ownerReferences", owner_reference(spec, owner)}}},
          {"data", d}};
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
