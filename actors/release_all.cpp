#include "actors/release_all.hpp"

#include "api/claim.hpp"
#include "api/credentials.hpp"
#include "api/mysql_user.hpp"
#include "api/postgres_role.hpp"

#include <chrono>
#include <spdlog/spdlog.h>
#include <thread>
#include <utility>
#include <vector>

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

struct secret_release {
  bool patched = false; // its ownerReference to the user was removed now
  std::string error;
};

// Step 2b: the user's credentials Secret loses its ownerReference to the user and gets the
// annotation naming it (as in an uninstall, api::release_patch of credentials.hpp), so that
// garbage collection keeps it when the user goes (a CRD deleted after the release) and the user
// applied again adopts it. Absent, or not owned by this user: nothing to do.
secret_release release_secret(k8s::client& kube, const json& object) {
  const auto meta = api::parse_meta(object);
  const auto name = object.value("/spec/secretName"_json_pointer, std::string());
  if (name.empty())
    return {};
  const k8s::object_ref ref{k8s::resource::secrets(), meta.ns, name, ""};
  auto secret = k8s::wait_for<json>([&](k8s::callback<json> cb) { kube.get(ref, cb); });
  if (!secret && secret.error().code != k8s::error::kind::not_found)
    return {false, "Secret " + name + ": " + secret.error().to_string()};
  const auto patch = secret ? api::release_patch(*secret, meta) : std::nullopt;
  if (!patch)
    return {};
  auto r = k8s::wait_for<json>(
    [&](k8s::callback<json> cb) { kube.patch(ref, k8s::patch_type::json, *patch, cb); });
  if (r)
    return {true, ""};
  // Gone, or no longer ours (the test op failed): nothing to release.
  if (r.error().code == k8s::error::kind::not_found
      || r.error().code == k8s::error::kind::invalid)
    return {};
  return {false, "Secret " + name + ": " + r.error().to_string()};
}

// Releases one user, reading it again after a lost race; false when it failed (recorded in
// `sum`) or was not ours after all.
bool release_one(k8s::client& kube, const kind_of_user& k, json object,
                 const std::string& install_id, release_summary& sum, bool& released) {
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
      released = true;
      spdlog::info("{}/{}: released by install {}: finalizer and claim removed, annotation {} "
                   "set; role, grants and Secret kept (no SQL; the Secret without its owner)",
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

// Step 2b for every released user, after all of them (2a), then checked again: an operator of
// this install that still runs leaves a released user alone, but one whose cache did not show
// the release yet adopts the released Secret again (it is released to that very user). Such a
// Secret is released again once its cache caught up (a second later, up to 3 times).
void release_secrets(k8s::client& kube, const std::vector<std::pair<const char*, json>>& users,
                     release_summary& sum) {
  std::vector<const std::pair<const char*, json>*> pending;
  for (const auto& u : users)
    pending.push_back(&u);
  for (int round = 0; round < 4 && !pending.empty(); ++round) {
    if (round > 0)
      std::this_thread::sleep_for(std::chrono::seconds(1));
    std::vector<const std::pair<const char*, json>*> again;
    for (const auto* u : pending) {
      auto outcome = release_secret(kube, u->second);
      if (!outcome.error.empty() && round == 3)
        sum.failures.push_back(std::string(u->first) + " " + api::parse_meta(u->second).key()
                               + ": " + outcome.error);
      if (outcome.patched || !outcome.error.empty())
        again.push_back(u); // looked at again: still released a second later?
    }
    pending = std::move(again);
  }
}

release_summary release_all(k8s::client& kube, const std::string& ns,
                            const std::string& install_id) {
  release_summary sum;
  std::vector<std::pair<const char*, json>> users; // kind, object: for step 2b
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
      const auto meta = api::parse_meta(item);
      bool released = false;
      if (api::releasable(meta, install_id))
        (void)release_one(kube, k, item, install_id, sum, released);
      else
        ++sum.left;
      // Released now, or by an earlier run whose Secret release failed: its Secret, after.
      if (released || meta.annotation(api::released_by_annotation) == install_id)
        users.push_back({k.kind, std::move(item)});
    }
  }
  release_secrets(kube, users, sum);
  return sum;
}

} // namespace dbuser::actors
