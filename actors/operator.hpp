#pragma once

// The operator's wiring: the Kubernetes client, the informers (PostgresUsers, MySQLUsers, the
// Secrets carrying our label, DatabaseTargetPolicies and Namespaces), the pool registry, the secret writer and one user manager per
// kind. The informers'
// callbacks (on the client's threads) only send (reconcile_atom, key) to the manager.

#include "actors/context.hpp"
#include "actors/db_pool.hpp"
#include "k8s/client.hpp"
#include "k8s/config.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <memory>
#include <cstdint>
#include <string>
#include <vector>

namespace dbuser::actors {

struct operator_config {
  k8s::config kube;
  k8s::client_options kube_options;
  std::string watch_namespace; // empty: every namespace
  pool_options pool;
  operator_settings settings;
  bool start_paused = false; // with leader election: wait to be the leader
  std::shared_ptr<shard_table> shards; // --shards N > 1; null: every user is ours
  std::function<void(const supervisor_report&)> on_supervisor_report;
  pool_stats_sink on_pool_stats;
  std::function<void(const slot_queue_stats&)> on_queue_stats;
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

  // Every informer listed once.
  [[nodiscard]] bool synced() const;
  struct counters {
    bool synced = false;
    std::uint64_t watch_restarts = 0;
    std::uint64_t relists = 0;
  };
  // The informers' counters (thread-safe; for /metrics and /readyz).
  [[nodiscard]] counters informer_counters() const;
  // Leader election: stop (true) or resume (false) reconciling.
  void pause(bool paused);
  // Shards: this process took (true: its users are looked at again) or lost (false: their
  // supervisors stop now) a shard.
  void shard_changed(int shard, bool held);
  // Stops the informers and every supervisor; in-flight work is abandoned safely (every step is
  // idempotent and the next leader or start re-reads the world).
  void stop();

  [[nodiscard]] const std::shared_ptr<k8s::client>& kube() const {
    return engines_.front().ctx->kube;
  }

private:
  // One user manager per kind of user resource (PostgresUser, MySQLUser), each with its
  // context; the client, the Secret cache, the pools and the secret writer are shared.
  struct engine_slot {
    std::shared_ptr<operator_context> ctx;
    caf::actor manager;
  };
  operator_runtime() = default;
  caf::actor_system* sys_ = nullptr;
  std::vector<engine_slot> engines_;
  std::shared_ptr<k8s::informer> secrets_;
  target_gate targets_; // DatabaseTargetPolicies and Namespaces, shared by every kind
  bool stopped_ = false;
};

// Whether an update of a PostgresUser asks for a reconcile: its spec (generation), deletion,
// finalizers, annotations or labels changed. Status-only updates (our own writes) do not.
[[nodiscard]] bool user_update_matters(const nlohmann::json& old_obj, const nlohmann::json& new_obj);

// The user resource of engine `eng` a Secret of ours belongs to ("namespace/name"), from its
// owner label; empty when it belongs to the other engine's kind.
[[nodiscard]] std::string owner_key_of_secret(const nlohmann::json& secret, api::engine eng);

} // namespace dbuser::actors
