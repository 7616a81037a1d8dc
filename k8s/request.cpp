#include "k8s/request.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace dbuser::k8s {

namespace {

using params = std::vector<std::pair<std::string, std::string>>;

void add_if(params& p, const char* key, const std::string& value) {
  if (!value.empty()) p.emplace_back(key, value);
}

} // namespace

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'
        || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

std::string query_string(const params& ps) {
  std::string q;
  for (const auto& [k, v] : ps) {
    q += q.empty() ? '?' : '&';
    q += url_encode(k) + "=" + url_encode(v);
  }
  return q;
}

std::string collection_path(const resource& res, const std::string& ns) {
  std::string p = res.group.empty() ? "/api/" + res.version : "/apis/" + res.group + "/" + res.version;
  if (res.namespaced && !ns.empty()) p += "/namespaces/" + url_encode(ns);
  return p + "/" + res.plural;
}

std::string object_path(const object_ref& ref) {
  std::string p = collection_path(ref.res, ref.ns) + "/" + url_encode(ref.name);
  if (!ref.subresource.empty()) p += "/" + ref.subresource;
  return p;
}

const char* content_type_of(patch_type t) {
  switch (t) {
    case patch_type::merge: return "application/merge-patch+json";
    case patch_type::json: return "application/json-patch+json";
    case patch_type::strategic: return "application/strategic-merge-patch+json";
    case patch_type::apply: return "application/apply-patch+yaml";
  }
  return "application/json";
}

http_request get_request(const object_ref& ref) { return {"GET", object_path(ref), "", "", "get"}; }

http_request get_metadata_request(const object_ref& ref) {
  auto r = get_request(ref);
  r.accept = accept_metadata_only;
  return r;
}

http_request list_request(const resource& res, const std::string& ns, const list_options& o) {
  params p;
  add_if(p, "labelSelector", o.label_selector);
  add_if(p, "fieldSelector", o.field_selector);
  if (o.limit) p.emplace_back("limit", std::to_string(*o.limit));
  add_if(p, "continue", o.continue_);
  add_if(p, "resourceVersion", o.resource_version);
  return {"GET", collection_path(res, ns) + query_string(p), "", "", "list"};
}

http_request watch_request(const resource& res, const std::string& ns, const watch_options& o) {
  params p{{"watch", "true"}};
  add_if(p, "labelSelector", o.label_selector);
  add_if(p, "fieldSelector", o.field_selector);
  add_if(p, "resourceVersion", o.resource_version);
  if (o.timeout_seconds) p.emplace_back("timeoutSeconds", std::to_string(*o.timeout_seconds));
  if (o.allow_bookmarks) p.emplace_back("allowWatchBookmarks", "true");
  return {"GET", collection_path(res, ns) + query_string(p), "", "", "watch"};
}

http_request create_request(const resource& res, const std::string& ns, const nlohmann::json& obj,
                            const write_options& o, const std::string& field_manager) {
  params p;
  if (o.dry_run) p.emplace_back("dryRun", "All");
  add_if(p, "fieldManager", field_manager);
  return {"POST", collection_path(res, ns) + query_string(p), obj.dump(), "application/json", "create"};
}

http_request update_request(const object_ref& ref, const nlohmann::json& obj, const std::string& field_manager) {
  params p;
  add_if(p, "fieldManager", field_manager);
  return {"PUT", object_path(ref) + query_string(p), obj.dump(), "application/json", "update"};
}

http_request patch_request(const object_ref& ref, patch_type t, const nlohmann::json& patch,
                           const std::string& field_manager, bool force) {
  params p;
  add_if(p, "fieldManager", field_manager);
  if (t == patch_type::apply && force) p.emplace_back("force", "true");
  // JSON is valid YAML: server-side apply accepts the JSON text as its YAML body.
  return {"PATCH", object_path(ref) + query_string(p), patch.dump(), content_type_of(t), "patch"};
}

http_request delete_request(const object_ref& ref, const delete_options& o) {
  nlohmann::json body{{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (o.uid || o.resource_version) {
    auto& pre = body["preconditions"] = nlohmann::json::object();
    if (o.uid) pre["uid"] = *o.uid;
    if (o.resource_version) pre["resourceVersion"] = *o.resource_version;
  }
  if (o.propagation) body["propagationPolicy"] = *o.propagation;
  if (o.dry_run) body["dryRun"] = nlohmann::json::array({"All"});
  return {"DELETE", object_path(ref), body.dump(), "application/json", "delete"};
}

namespace {
std::string meta_string(const nlohmann::json& obj, const char* field) {
  if (!obj.is_object()) return {};
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return {};
  auto f = m->find(field);
  return f != m->end() && f->is_string() ? f->get<std::string>() : std::string();
}
} // namespace

std::string name_of(const nlohmann::json& obj) { return meta_string(obj, "name"); }
std::string namespace_of(const nlohmann::json& obj) { return meta_string(obj, "namespace"); }
std::string uid_of(const nlohmann::json& obj) { return meta_string(obj, "uid"); }
std::string resource_version_of(const nlohmann::json& obj) { return meta_string(obj, "resourceVersion"); }
std::string make_key(const std::string& ns, const std::string& name) { return ns.empty() ? name : ns + "/" + name; }
std::string key_of(const nlohmann::json& obj) { return make_key(namespace_of(obj), name_of(obj)); }

std::string format_time(std::chrono::system_clock::time_point t, bool micro) {
  using namespace std::chrono;
  auto secs = time_point_cast<seconds>(t);
  if (secs > t) secs -= seconds(1);
  std::time_t tt = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string s = buf;
  if (micro) {
    char frac[32];
    std::snprintf(frac, sizeof frac, ".%06ld", static_cast<long>(duration_cast<microseconds>(t - secs).count()));
    s += frac;
  }
  return s + "Z";
}

} // namespace dbuser::k8s
