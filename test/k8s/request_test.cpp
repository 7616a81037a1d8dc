#include "k8s/request.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::k8s;
using nlohmann::json;

TEST_CASE("core resources live under /api/v1 and grouped ones under /apis") {
  CHECK(collection_path(resource::config_maps(), "ns1") == "/api/v1/namespaces/ns1/configmaps");
  CHECK(collection_path(resource::postgres_users(), "team-a")
        == "/apis/database.example.com/v1alpha1/namespaces/team-a/postgresusers");
  CHECK(collection_path(resource::namespaces(), "ignored") == "/api/v1/namespaces");
  CHECK(collection_path(resource::secrets(), "") == "/api/v1/secrets");
}

TEST_CASE("an object path names the object and its subresource") {
  CHECK(object_path({resource::postgres_users(), "default", "app-user", "status"})
        == "/apis/database.example.com/v1alpha1/namespaces/default/postgresusers/app-user/status");
  CHECK(object_path({resource::leases(), "kube-system", "lock", ""})
        == "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lock");
}

TEST_CASE("query values are percent-encoded") {
  CHECK(url_encode("app in (a,b)") == "app%20in%20%28a%2Cb%29");
  CHECK(url_encode("a=b&c") == "a%3Db%26c");
  CHECK(query_string({}) == "");
  CHECK(query_string({{"a", "1"}, {"b", "x y"}}) == "?a=1&b=x%20y");
}

TEST_CASE("a list request carries selectors, limit, continue and resourceVersion") {
  list_options o;
  o.label_selector = "app=x";
  o.field_selector = "metadata.name=y";
  o.limit = 50;
  o.continue_ = "tok";
  o.resource_version = "0";
  auto r = list_request(resource::secrets(), "ns", o);
  CHECK(r.method == "GET");
  CHECK(r.verb == "list");
  CHECK(r.target
        == "/api/v1/namespaces/ns/secrets?labelSelector=app%3Dx&fieldSelector=metadata.name%3Dy&limit=50&continue=tok"
           "&resourceVersion=0");
}

TEST_CASE("a watch request asks for bookmarks and a server-side timeout") {
  watch_options o;
  o.resource_version = "123";
  o.timeout_seconds = 60;
  auto r = watch_request(resource::config_maps(), "ns", o);
  CHECK(r.target == "/api/v1/namespaces/ns/configmaps?watch=true&resourceVersion=123&timeoutSeconds=60"
                    "&allowWatchBookmarks=true");
  CHECK(r.verb == "watch");
}

TEST_CASE("every write carries the field manager") {
  json obj{{"metadata", {{"name", "x"}}}};
  auto c = create_request(resource::config_maps(), "ns", obj, {}, "dbuser-operator");
  CHECK(c.method == "POST");
  CHECK(c.target == "/api/v1/namespaces/ns/configmaps?fieldManager=dbuser-operator");
  CHECK(json::parse(c.body) == obj);
  CHECK(c.content_type == "application/json");
  auto u = update_request({resource::config_maps(), "ns", "x", ""}, obj, "dbuser-operator");
  CHECK(u.method == "PUT");
  CHECK(u.target == "/api/v1/namespaces/ns/configmaps/x?fieldManager=dbuser-operator");
  auto p = patch_request({resource::config_maps(), "ns", "x", ""}, patch_type::merge, obj, "dbuser-operator");
  CHECK(p.method == "PATCH");
  CHECK(p.target == "/api/v1/namespaces/ns/configmaps/x?fieldManager=dbuser-operator");
  CHECK(p.content_type == "application/merge-patch+json");
}

TEST_CASE("dry run is a query parameter on create") {
  write_options w;
  w.dry_run = true;
  auto c = create_request(resource::secrets(), "ns", json::object(), w, "m");
  CHECK(c.target == "/api/v1/namespaces/ns/secrets?dryRun=All&fieldManager=m");
}

TEST_CASE("each patch type has its content type and apply may force") {
  CHECK(std::string(content_type_of(patch_type::json)) == "application/json-patch+json");
  CHECK(std::string(content_type_of(patch_type::strategic)) == "application/strategic-merge-patch+json");
  CHECK(std::string(content_type_of(patch_type::apply)) == "application/apply-patch+yaml");
  auto a = patch_request({resource::config_maps(), "ns", "x", ""}, patch_type::apply, json::object(), "m", true);
  CHECK(a.target == "/api/v1/namespaces/ns/configmaps/x?fieldManager=m&force=true");
}

TEST_CASE("a delete sends its preconditions and propagation policy as DeleteOptions") {
  delete_options o;
  o.uid = "u-1";
  o.resource_version = "42";
  o.propagation = "Foreground";
  auto r = delete_request({resource::secrets(), "ns", "x", ""}, o);
  CHECK(r.method == "DELETE");
  CHECK(r.target == "/api/v1/namespaces/ns/secrets/x");
  auto body = json::parse(r.body);
  CHECK(body["kind"] == "DeleteOptions");
  CHECK(body["preconditions"]["uid"] == "u-1");
  CHECK(body["preconditions"]["resourceVersion"] == "42");
  CHECK(body["propagationPolicy"] == "Foreground");
  CHECK_FALSE(json::parse(delete_request({resource::secrets(), "ns", "x", ""}, {}).body).contains("preconditions"));
}

TEST_CASE("metadata helpers read names, keys and versions and tolerate missing fields") {
  json o{{"metadata", {{"name", "a"}, {"namespace", "n"}, {"uid", "u"}, {"resourceVersion", "7"}}}};
  CHECK(name_of(o) == "a");
  CHECK(namespace_of(o) == "n");
  CHECK(uid_of(o) == "u");
  CHECK(resource_version_of(o) == "7");
  CHECK(key_of(o) == "n/a");
  CHECK(key_of(json{{"metadata", {{"name", "cluster-wide"}}}}) == "cluster-wide");
  CHECK(name_of(json::object()) == "");
  CHECK(name_of(json(nullptr)) == "");
}

TEST_CASE("timestamps are RFC 3339 in UTC, with microseconds for MicroTime") {
  using namespace std::chrono;
  auto t = system_clock::from_time_t(1700000000) + microseconds(123456);
  CHECK(format_time(t) == "2023-11-14T22:13:20Z");
  CHECK(format_time(t, true) == "2023-11-14T22:13:20.123456Z");
}
