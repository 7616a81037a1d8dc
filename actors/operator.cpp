#include "actors/operator.hpp"

#include "actors/secret_writer.hpp"
#include "actors/user_manager.hpp"
#include "api/mysql_user.hpp"
#include "api/postgres_role.hpp"
#include "api/postgres_user.hpp"
#include "api/target_policy.hpp"
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
  return api::reconcile_inputs(old_obj) != api::reconcile_inputs(new_obj);
}

std::string owner_key_of_secret(const json& secret, api::engine eng) {
  const auto labels = secret.value("/metadata/labels"_json_pointer, json::object());
  auto i = labels.find(eng == api::engine::mysql ? api::mysql_user::owner_label : api::owner_label);
  if (i == labels.end() || !i->is_string())
    return "";
  return secret.value("/metadata/namespace"_json_pointer, "") + "/" + i->get<std::string>();
}

namespace {

struct engine_kind {
  api::engine eng;
  k8s::resource res;
  const char* kind;
  bool has_secrets = true; // its Secrets' events go to its manager
  bool optional = false;   // its CRD may not be installed (an upgrade that kept the old CRDs)
};

// The resources this operator serves: PostgresUsers, PostgresRoles and MySQLUsers.
std::vector<engine_kind> engine_kinds() {
  return {{api::engine::postgres, k8s::resource::postgres_users(), api::kind},
          {api::engine::postgres,
           k8s::resource{api::group, api::version, api::postgres_role::plural, true},
           api::postgres_role::kind, false, true},
          {api::engine::mysql,
           k8s::resource{api::group, api::version, api::mysql_user::plural, true},
           api::mysql_user::kind}};
}

// Sends (reconcile_atom, key) to a manager that exists once the informers were made.
using key_sink = std::function<void(const std::string&)>;

key_sink sink_to(std::shared_ptr<caf::actor> manager) {
  return [manager](const std::string& key) {
    if (*manager && key.size() > 1)
      caf::anon_send(*manager, msg::reconcile_atom::value, key);
  };
}

k8s::informer_handlers user_handlers(const key_sink& send_key, const char* kind,
                                     bool optional) {
  k8s::informer_handlers h;
  h.on_add = [send_key](const json& o) { send_key(key_of(o)); };
  h.on_update = [send_key](const json& o, const json& n) {
    if (user_update_matters(o, n))
      send_key(key_of(n));
  };
  h.on_delete = [send_key](const json& o) { send_key(key_of(o)); };
  h.on_synced = [kind] { spdlog::info("{} cache synced", kind); };
  auto absent_said = std::make_shared<bool>(false);
  h.on_error = [kind, optional, absent_said](const k8s::error& e) {
    if (optional && e.code == k8s::error::kind::not_found) {
      // Once, not at every relist: its CRD is not installed (apply deploy/crd to serve it).
      spdlog::log(*absent_said ? spdlog::level::debug : spdlog::level::warn,
                  "{}: the API server does not serve this kind (its CRD is not installed: apply "
                  "deploy/crd); none is reconciled until it does",
                  kind);
      *absent_said = true;
      return;
    }
    spdlog::warn("{} watch: {} (retrying)", kind, e.to_string());
  };
  return h;
}

// Sends (targets_atom, ns) to every manager: "" after a policy change, a namespace's name after
// a change of its labels.
using targets_sink = std::function<void(const std::string& ns)>;

targets_sink targets_to(std::vector<std::shared_ptr<caf::actor>> managers) {
  return [managers](const std::string& ns) {
    for (const auto& m : managers)
      if (*m)
        caf::anon_send(*m, msg::targets_atom::value, ns);
  };
}

k8s::informer_handlers policy_handlers(const targets_sink& wake) {
  k8s::informer_handlers h;
  h.on_add = [wake](const json&) { wake(""); };
  h.on_update = [wake](const json& o, const json& n) {
    if (pick(o, "/spec") != pick(n, "/spec"))
      wake("");
  };
  h.on_delete = [wake](const json&) { wake(""); };
  h.on_synced = [wake] {
    spdlog::info("{} cache synced", api::target_policy::kind);
    wake("");
  };
  h.on_error = [](const k8s::error& e) {
    spdlog::warn("{} watch: {} (retrying; no user is reconciled before the policies are known)",
                 api::target_policy::kind, e.to_string());
  };
  return h;
}

k8s::informer_handlers namespace_handlers(const targets_sink& wake) {
  k8s::informer_handlers h;
  h.on_add = [wake](const json& n) { wake(k8s::name_of(n)); };
  h.on_update = [wake](const json& o, const json& n) {
    if (pick(o, "/metadata/labels") != pick(n, "/metadata/labels"))
      wake(k8s::name_of(n));
  };
  h.on_synced = [wake] {
    spdlog::info("Namespace cache synced");
    wake("");
  };
  h.on_error = [](const k8s::error& e) {
    spdlog::warn("Namespace watch: {} (retrying)", e.to_string());
  };
  return h;
}

} // namespace

expected<std::unique_ptr<operator_runtime>, std::string>
operator_runtime::start(caf::actor_system& sys, operator_config cfg) {
  auto kube = k8s::client::make(cfg.kube, cfg.kube_options);
  if (!kube)
    return make_unexpected("Kubernetes client: " + kube.error().to_string());
  std::unique_ptr<operator_runtime> rt(new operator_runtime());
  rt->sys_ = &sys;
  operator_context shared;
  shared.kube = *kube;
  shared.settings = cfg.settings;
  shared.report = cfg.on_supervisor_report;
  shared.report_queue = cfg.on_queue_stats;
  shared.on_rotation = cfg.on_rotation;
  shared.pools = spawn_pool_registry(sys, cfg.pool, cfg.on_pool_stats);
  shared.secret_writer = spawn_secret_writer(sys, shared.kube);
  shared.admin_secrets = std::make_shared<read_cache>(cfg.settings.admin_secret_ttl);
  shared.shards = cfg.shards;

  // The managers need the caches and the caches' callbacks need the managers: create the
  // informers first, start them last.
  std::vector<std::pair<api::engine, key_sink>> secret_routes;
  std::vector<std::shared_ptr<caf::actor>> manager_refs;
  for (const auto& k : engine_kinds()) {
    auto manager_ref = std::make_shared<caf::actor>();
    auto send_key = sink_to(manager_ref);
    auto ctx = std::make_shared<operator_context>(shared);
    ctx->engine = k.eng;
    ctx->resource = k.res;
    ctx->kind = k.kind;
    k8s::informer_options opts;
    opts.absent_is_empty = k.optional;
    ctx->users = k8s::informer::make(ctx->kube, k.res, cfg.watch_namespace,
                                     user_handlers(send_key, k.kind, k.optional), opts);
    rt->engines_.push_back(engine_slot{ctx, caf::actor()});
    manager_refs.push_back(manager_ref);
    if (k.has_secrets)
      secret_routes.emplace_back(k.eng, send_key);
  }
  // One cache of our Secrets for both kinds; each event goes to the manager its label names.
  auto route = [secret_routes](const json& s) {
    for (const auto& [eng, send_key] : secret_routes)
      send_key(owner_key_of_secret(s, eng));
  };
  k8s::informer_handlers secrets;
  secrets.on_add = route;
  secrets.on_update = [route](const json& o, const json& n) {
    if (pick(o, "/data") != pick(n, "/data")
        || pick(o, "/metadata/ownerReferences") != pick(n, "/metadata/ownerReferences"))
      route(n);
  };
  secrets.on_delete = route;
  secrets.on_error = [](const k8s::error& e) {
    spdlog::warn("Secret watch: {} (retrying)", e.to_string());
  };
  k8s::informer_options secret_opts;
  secret_opts.label_selector = std::string(api::managed_by_label) + "=" + api::managed_by_value;
  rt->secrets_ = k8s::informer::make(shared.kube, k8s::resource::secrets(), cfg.watch_namespace,
                                     secrets, secret_opts);
  // The target policies and the namespaces' labels: both informers wake every manager.
  const auto wake_targets = targets_to(manager_refs);
  rt->targets_.policies = k8s::informer::make(shared.kube, target_policy_resource(), "",
                                              policy_handlers(wake_targets));
  k8s::informer_options ns_opts;
  if (!cfg.watch_namespace.empty()) // only the namespace watched (RBAC: resourceNames)
    ns_opts.field_selector = "metadata.name=" + cfg.watch_namespace;
  rt->targets_.namespaces = k8s::informer::make(shared.kube, k8s::resource::namespaces(), "",
                                                namespace_handlers(wake_targets), ns_opts);
  for (size_t i = 0; i < rt->engines_.size(); ++i) {
    auto& slot = rt->engines_[i];
    slot.ctx->secrets = rt->secrets_;
    slot.ctx->targets = rt->targets_;
    slot.manager = spawn_user_manager(sys, slot.ctx, cfg.start_paused);
    *manager_refs[i] = slot.manager;
  }
  // Secrets first: a supervisor reads its Secret from that cache.
  rt->secrets_->start();
  rt->targets_.policies->start();
  rt->targets_.namespaces->start();
  for (auto& slot : rt->engines_)
    slot.ctx->users->start();
  return rt;
}

bool operator_runtime::synced() const {
  return informer_counters().synced;
}

operator_runtime::counters operator_runtime::informer_counters() const {
  counters c;
  c.synced = secrets_ && secrets_->synced();
  if (secrets_) {
    c.watch_restarts += secrets_->watch_restarts();
    c.relists += secrets_->relists();
  }
  for (const auto& inf : {targets_.policies, targets_.namespaces})
    if (inf) {
      c.synced = c.synced && inf->synced();
      c.watch_restarts += inf->watch_restarts();
      c.relists += inf->relists();
    }
  for (const auto& slot : engines_) {
    c.synced = c.synced && slot.ctx->users->synced();
    c.watch_restarts += slot.ctx->users->watch_restarts();
    c.relists += slot.ctx->users->relists();
  }
  return c;
}

void operator_runtime::pause(bool paused) {
  for (auto& slot : engines_) {
    caf::anon_send(slot.manager, msg::pause_atom::value, paused);
    if (!paused) {
      // Resuming: look at everything again (the manager dropped reconciles while paused).
      for (const auto& obj : slot.ctx->users->list())
        caf::anon_send(slot.manager, msg::reconcile_atom::value, key_of(obj));
    }
  }
}

void operator_runtime::shard_changed(int shard, bool held) {
  for (auto& slot : engines_) {
    caf::anon_send(slot.manager, msg::shard_atom::value, shard, held);
    if (held) // the manager keeps those of the shards held
      for (const auto& obj : slot.ctx->users->list())
        caf::anon_send(slot.manager, msg::reconcile_atom::value, key_of(obj));
  }
}

void operator_runtime::stop() {
  if (stopped_ || engines_.empty())
    return;
  stopped_ = true;
  for (auto& slot : engines_)
    slot.ctx->users->stop();
  secrets_->stop();
  targets_.policies->stop();
  targets_.namespaces->stop();
  for (auto& slot : engines_)
    caf::anon_send(slot.manager, msg::shutdown_atom::value);
  const auto& any = *engines_.front().ctx;
  caf::anon_send_exit(any.secret_writer, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(any.pools, caf::exit_reason::user_shutdown);
}

operator_runtime::~operator_runtime() {
  stop();
}

} // namespace dbuser::actors
