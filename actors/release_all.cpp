#include "actors/release_all.hpp"

#include "api/claim.hpp"
#include "api/mysql_user.hpp"
#include "api/postgres_role.hpp"

#include <spdlog/spdlog.h>

namespace dbuser::actors {

using nlohmann::json;

namespace {

struct kind_of_user {
  const char* kind;
  k8s::resource res;
};

std::vector<kind_of_user> user_kinds() {
  return {{api::kind, k8s::resource::postgres_users()},
          {api::postgres_role::kind,
           k8s::resource{api::group, api::version, api::postgres_role::plural, true}},
          {api::mysql_user::kind,
           k8s::resource{api::group, api::version, api::mysql_user::plural, true}}};
}

// Releases one user, reading it again after a lost race; false with `why` when it failed.
bool release_one(k8s::client& kube, const kind_of_user& k, json object,
                 const std::string& install_id, release_summary& sum) {
  const auto meta = api::parse_meta(object);
  const k8s::object_ref ref{k.res, meta.ns, meta.name, ""};
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto patch = api::release_patch(object, install_id);
    if (!patch) {
      ++sum.left;
      return true;
    }
    auto r = k8s::wait_for<json>(
      [&](k8s::callback<json> cb) { kube.patch(ref, k8s::patch_type::json, *patch, cb); });
    if (r) {
      ++sum.released;
      spdlog::info("{}/{}: released by install {}: finalizer and claim removed, annotation {} "
                   "set; role, grants and Secret kept (no SQL)",
                   meta.ns, meta.name, install_id, api::released_by_annotation);
      return true;
    }
    if (r.error().code == k8s::error::kind::not_found)
      return true;
    if (r.error().code != k8s::error::kind::invalid
        && r.error().code != k8s::error::kind::conflict) {
      sum.failures.push_back(std::string(k.kind) + " " + meta.key() + ": " + r.error().to_string());
      return false;
    }
    auto again = k8s::wait_for<json>([&](k8s::callback<json> cb) { kube.get(ref, cb); });
    if (!again)
      return again.error().code == k8s::error::kind::not_found;
    object = std::move(*again);
  }
  sum.failures.push_back(std::string(k.kind) + " " + meta.key()
                         + ": it kept changing (5 attempts)");
  return false;
}

} // namespace

release_summary release_all(k8s::client& kube, const std::string& ns,
                            const std::string& install_id) {
  release_summary sum;
  for (const auto& k : user_kinds()) {
    auto list = k8s::wait_for<json>(
      [&](k8s::callback<json> cb) { kube.list_all(k.res, ns, k8s::list_options{}, cb); });
    if (!list && list.error().code == k8s::error::kind::not_found) {
      spdlog::info("{}: the CRD is not installed; nothing to release", k.kind);
      continue;
    }
    if (!list) {
      sum.failures.push_back(std::string(k.kind) + ": list: " + list.error().to_string());
      continue;
    }
    for (auto& item : list->value("items", json::array())) {
      // A List's items carry neither apiVersion nor kind: not needed by the patch.
      if (!api::releasable(api::parse_meta(item), install_id)) {
        ++sum.left;
        continue;
      }
      (void)release_one(kube, k, std::move(item), install_id, sum);
    }
  }
  return sum;
}

} // namespace dbuser::actors
