#include "actors/operator.hpp"

#include "actors/secret_writer.hpp"
#include "actors/user_manager.hpp"
#include "api/postgres_user.hpp"
#include "messages/reconcile.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace dbuser::actors {

using nlohmann::json;

namespace {

std::string key_of(const json& obj) {
  return obj.value("/metadata/namespace"_json_pointer, "") + "/"
         + obj.value("/metadata/name"_json_pointer, "");
}

json pick(const json& obj, const char* pointer) {
  auto p = json::json_pointer(pointer);
  return obj.contains(p) ? obj.at(p) : json();
}

} // namespace

bool user_update_matters(const json& old_obj, const json& new_obj) {
  for (const char* p : {"/metadata/generation", "/metadata/deletionTimestamp",
                        "/metadata/finalizers", "/metadata/annotations", "/metadata/labels"})
    if (pick(old_obj, p) != pick(new_obj, p))
      return true;
  return false;
}

std::string owner_key_of_secret(const json& secret) {
  const auto labels = secret.value("/metadata/labels"_json_pointer, json::object());
  auto i = labels.find(api::owner_label);
  if (i == labels.end() || !i->is_string())
    return "";
  return secret.value("/metadata/namespace"_json_pointer, "") + "/" + i->get<std::string>();
}

expected<std::unique_ptr<operator_runtime>, std::string>
operator_runtime::start(caf::actor_system& sys, operator_config cfg) {
  auto kube = k8s::client::make(cfg.kube, cfg.kube_options);
  if (!kube)
    return make_unexpected("Kubernetes client: " + kube.error().to_string());
  std::unique_ptr<operator_runtime> rt(new operator_runtime());
  rt->sys_ = &sys;
  auto ctx = std::make_shared<operator_context>();
  ctx->kube = *kube;
  ctx->settings = cfg.settings;
  ctx->report = cfg.on_supervisor_report;
  ctx->on_rotation = cfg.on_rotation;
  ctx->pools = spawn_pool_registry(sys, cfg.pool, cfg.on_pool_stats);
  ctx->secret_writer = spawn_secret_writer(sys, ctx->kube);

  // The manager needs the caches and the caches' callbacks need the manager: create the
  // informers first, start them last.
  caf::actor manager;
  auto manager_ref = std::make_shared<caf::actor>();
  auto send_key = [manager_ref](const std::string& key) {
    if (*manager_ref && key.size() > 1)
      caf::anon_send(*manager_ref, msg::reconcile_atom::value, key);
  };
  k8s::informer_handlers users;
  users.on_add = [send_key](const json& o) { send_key(key_of(o)); };
  users.on_update = [send_key](const json& o, const json& n) {
    if (user_update_matters(o, n))
      send_key(key_of(n));
  };
  users.on_delete = [send_key](const json& o) { send_key(key_of(o)); };
  users.on_synced = [] { spdlog::info("PostgresUser cache synced"); };
  users.on_error = [](const k8s::error& e) {
    spdlog::warn("PostgresUser watch: {} (retrying)", e.to_string());
  };
  k8s::informer_handlers secrets;
  secrets.on_add = [send_key](const json& s) { send_key(owner_key_of_secret(s)); };
  secrets.on_update = [send_key](const json& o, const json& n) {
    if (pick(o, "/data") != pick(n, "/data") || pick(o, "/metadata/ownerReferences")
                                                   != pick(n, "/metadata/ownerReferences"))
      send_key(owner_key_of_secret(n));
  };
  secrets.on_delete = [send_key](const json& s) { send_key(owner_key_of_secret(s)); };
  secrets.on_error = [](const k8s::error& e) {
    spdlog::warn("Secret watch: {} (retrying)", e.to_string());
  };
  k8s::informer_options secret_opts;
  secret_opts.label_selector = std::string(api::managed_by_label) + "=" + api::managed_by_value;
  ctx->users = k8s::informer::make(ctx->kube, k8s::resource::postgres_users(),
                                   cfg.watch_namespace, users);
  ctx->secrets = k8s::informer::make(ctx->kube, k8s::resource::secrets(), cfg.watch_namespace,
                                     secrets, secret_opts);
  rt->ctx_ = ctx;
  rt->manager_ = spawn_user_manager(sys, ctx, cfg.start_paused);
  *manager_ref = rt->manager_;
  // Secrets first: a supervisor reads its Secret from that cache.
  ctx->secrets->start();
  ctx->users->start();
  return rt;
}

bool operator_runtime::synced() const {
  return ctx_ && ctx_->users->synced() && ctx_->secrets->synced();
}

void operator_runtime::pause(bool paused) {
  caf::anon_send(manager_, msg::pause_atom::value, paused);
  if (!paused) {
    // Resuming: look at everything again (the manager dropped reconciles while paused).
    for (const auto& obj : ctx_->users->list())
      caf::anon_send(manager_, msg::reconcile_atom::value, key_of(obj));
  }
}

void operator_runtime::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  ctx_->users->stop();
  ctx_->secrets->stop();
  caf::anon_send(manager_, msg::shutdown_atom::value);
  caf::anon_send_exit(ctx_->secret_writer, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(ctx_->pools, caf::exit_reason::user_shutdown);
}

operator_runtime::~operator_runtime() {
  stop();
}

} // namespace dbuser::actors
