#pragma once

// The operator's wiring: the Kubernetes client, the informers (PostgresUsers, and the Secrets
// carrying our label), the pool registry, the secret writer and the user manager. The informers'
// callbacks (on the client's threads) only send (reconcile_atom, key) to the manager.

#include "actors/context.hpp"
#include "actors/db_pool.hpp"
#include "k8s/client.hpp"
#include "k8s/config.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <memory>
#include <string>

namespace dbuser::actors {

struct operator_config {
  k8s::config kube;
  k8s::client_options kube_options;
  std::string watch_namespace; // empty: every namespace
  pool_options pool;
  operator_settings settings;
  bool start_paused = false; // with leader election: wait to be the leader
  std::function<void(const supervisor_report&)> on_supervisor_report;
  pool_stats_sink on_pool_stats;
  std::function<void()> on_rotation;
};

class operator_runtime {
public:
  // Builds the client, spawns the actors, starts the informers.
  [[nodiscard]] static expected<std::unique_ptr<operator_runtime>, std::string>
  start(caf::actor_system& sys, operator_config cfg);

  ~operator_runtime();
  operator_runtime(const operator_runtime&) = delete;
  operator_runtime& operator=(const operator_runtime&) = delete;

  // Both informers listed once.
  [[nodiscard]] bool synced() const;
  // Leader election: stop (true) or resume (false) reconciling.
  void pause(bool paused);
  // Stops the informers and every supervisor; in-flight work is abandoned safely (every step is
  // idempotent and the next leader or start re-reads the world).
  void stop();

  [[nodiscard]] const std::shared_ptr<k8s::client>& kube() const { return ctx_->kube; }
  [[nodiscard]] const caf::actor& manager() const { return manager_; }
  // The client and the informers (thread-safe), e.g. for their counters in /metrics.
  [[nodiscard]] std::shared_ptr<const operator_context> context() const { return ctx_; }

private:
  operator_runtime() = default;
  caf::actor_system* sys_ = nullptr;
  std::shared_ptr<operator_context> ctx_;
  caf::actor manager_;
  bool stopped_ = false;
};

// Whether an update of a PostgresUser asks for a reconcile: its spec (generation), deletion,
// finalizers, annotations or labels changed. Status-only updates (our own writes) do not.
[[nodiscard]] bool user_update_matters(const nlohmann::json& old_obj, const nlohmann::json& new_obj);

// The PostgresUser a Secret of ours belongs to ("namespace/name"), from its owner label.
[[nodiscard]] std::string owner_key_of_secret(const nlohmann::json& secret);

} // namespace dbuser::actors
