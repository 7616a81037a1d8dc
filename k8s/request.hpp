#pragma once

// Pure request building: which HTTP method, path, query string, body and content type an API call
// becomes. No I/O; unit-tested without a server (test/k8s/request_test.cpp).

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace dbuser::k8s {

// A kind of API resource: group "" is the core API (/api/v1), others are /apis/<group>/<version>.
struct resource {
  std::string group, version, plural;
  bool namespaced = true;

  [[nodiscard]] std::string api_version() const { return group.empty() ? version : group + "/" + version; }

  static resource config_maps() { return {"", "v1", "configmaps", true}; }
  static resource secrets() { return {"", "v1", "secrets", true}; }
  static resource events() { return {"", "v1", "events", true}; }
  static resource namespaces() { return {"", "v1", "namespaces", false}; }
  static resource service_accounts() { return {"", "v1", "serviceaccounts", true}; }
  static resource leases() { return {"coordination.k8s.io", "v1", "leases", true}; }
  static resource roles() { return {"rbac.authorization.k8s.io", "v1", "roles", true}; }
  static resource role_bindings() { return {"rbac.authorization.k8s.io", "v1", "rolebindings", true}; }
  static resource custom_resource_definitions() {
    return {"apiextensions.k8s.io", "v1", "customresourcedefinitions", false};
  }
  static resource postgres_users() { return {"database.example.com", "v1alpha1", "postgresusers", true}; }
};

// One object (or one subresource of it, e.g. "status").
struct object_ref {
  resource res;
  std::string ns, name, subresource;
};

struct list_options {
  std::string label_selector, field_selector;
  std::optional<long> limit;
  std::string continue_;
  std::string resource_version;
};

struct watch_options {
  std::string resource_version; // "" = start from "now" semantics of the server (most recent)
  std::string label_selector, field_selector;
  std::optional<long> timeout_seconds = 300;
  bool allow_bookmarks = true;
};

struct write_options {
  bool dry_run = false;
};

enum class patch_type { merge, json, strategic, apply };

struct delete_options {
  std::optional<std::string> uid;              // precondition
  std::optional<std::string> resource_version; // precondition
  std::optional<std::string> propagation;      // "Foreground", "Background", "Orphan"
  bool dry_run = false;
};

// The HTTP request an operation becomes (target = path + query string).
struct http_request {
  std::string method, target, body, content_type;
  std::string verb; // Kubernetes verb for metrics: get, list, create, update, patch, delete, watch
  std::string accept = "application/json";
};

// The Accept header that asks for an object's metadata only (PartialObjectMetadata, served for
// every resource since Kubernetes 1.15), falling back to the whole object.
inline constexpr const char* accept_metadata_only =
  "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

// Percent-encodes a query-string value (RFC 3986 unreserved characters pass).
[[nodiscard]] std::string url_encode(const std::string& s);
// "?a=b&c=d" (empty when no parameters), values encoded.
[[nodiscard]] std::string query_string(const std::vector<std::pair<std::string, std::string>>& params);

// /api/v1/namespaces/ns/configmaps, /apis/g/v/plural (cluster-scoped or all namespaces when ns empty)
[[nodiscard]] std::string collection_path(const resource& res, const std::string& ns);
// collection path + /name[/subresource]
[[nodiscard]] std::string object_path(const object_ref& ref);

[[nodiscard]] const char* content_type_of(patch_type t);

[[nodiscard]] http_request get_request(const object_ref& ref);
// GET of the object's metadata only (accept_metadata_only): apiVersion, kind and metadata.
[[nodiscard]] http_request get_metadata_request(const object_ref& ref);
[[nodiscard]] http_request list_request(const resource& res, const std::string& ns, const list_options& o);
[[nodiscard]] http_request watch_request(const resource& res, const std::string& ns, const watch_options& o);
[[nodiscard]] http_request create_request(const resource& res, const std::string& ns, const nlohmann::json& obj,
                                          const write_options& o, const std::string& field_manager);
[[nodiscard]] http_request update_request(const object_ref& ref, const nlohmann::json& obj,
                                          const std::string& field_manager);
// For patch_type::apply, `force` sets force=true (take ownership of conflicting fields).
[[nodiscard]] http_request patch_request(const object_ref& ref, patch_type t, const nlohmann::json& patch,
                                         const std::string& field_manager, bool force = false);
[[nodiscard]] http_request delete_request(const object_ref& ref, const delete_options& o);

// Object metadata helpers (return "" / null when absent).
[[nodiscard]] std::string name_of(const nlohmann::json& obj);
[[nodiscard]] std::string namespace_of(const nlohmann::json& obj);
[[nodiscard]] std::string uid_of(const nlohmann::json& obj);
[[nodiscard]] std::string resource_version_of(const nlohmann::json& obj);
// "ns/name", or "name" for cluster-scoped objects: the key of informer caches.
[[nodiscard]] std::string key_of(const nlohmann::json& obj);
[[nodiscard]] std::string make_key(const std::string& ns, const std::string& name);

// RFC 3339 UTC timestamps as the API server writes them ("2024-01-02T03:04:05Z" and, for
// MicroTime, "2024-01-02T03:04:05.123456Z").
[[nodiscard]] std::string format_time(std::chrono::system_clock::time_point t, bool micro = false);

} // namespace dbuser::k8s
