#pragma once

// Helpers for the k8s/ tests that run against the dev environment's real kube-apiserver.

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "k8s/client.hpp"
#include "test/support/dev_env.hpp"
#include "test/support/wait.hpp"

namespace dbuser::k8s::test {

using nlohmann::json;

// A client authenticated with the dev environment's admin client certificate.
inline std::shared_ptr<client> admin_client(client_options opts = {}) {
  auto cfg = load_kubeconfig(dbuser::test::dev_env::get().kubeconfig());
  REQUIRE(cfg);
  auto c = client::make(*cfg, opts);
  REQUIRE(c);
  return *c;
}

// Blocking call for tests: `sync<json>([&](auto cb) { c->get(ref, cb); })`.
template <class T = json, class F>
expected<T, error> sync(F&& start) {
  return wait_for<T>(std::function<void(callback<T>)>(std::forward<F>(start)));
}

// A fresh namespace for one test (namespaces are never deleted: the dev control plane runs no
// namespace controller, so they would stay Terminating anyway).
inline std::string fresh_namespace(const std::shared_ptr<client>& c, const std::string& prefix) {
  const std::string ns = dbuser::test::unique_name(prefix);
  auto r = sync([&](auto cb) {
    c->create(resource::namespaces(), "", json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}},
              cb);
  });
  REQUIRE(r);
  return ns;
}

// What the cluster itself puts in every namespace: kube-controller-manager's root CA ConfigMap
// (`kube-root-ca.crt`), there whenever the dev cluster of test/cluster runs beside these tests.
// Not the test's: counts and comparisons leave it out.
inline bool published_by_cluster(const json& object) {
  return object.value("/metadata/name"_json_pointer, std::string()) == "kube-root-ca.crt";
}

inline json config_map(const std::string& name, json data = json::object(), json labels = json::object()) {
  return json{{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", {{"name", name}, {"labels", labels}}},
              {"data", data}};
}

// Whether `ref` is gone: a get answers NotFound.
inline bool not_found(const std::shared_ptr<client>& c, const object_ref& ref) {
  auto r = sync([&](auto cb) { c->get(ref, cb); });
  return !r && r.error().code == error::kind::not_found;
}

inline std::string error_text(const expected<json, error>& r) { return r ? std::string("ok") : r.error().to_string(); }

} // namespace dbuser::k8s::test
