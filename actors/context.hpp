#pragma once

// What every supervisor is given at spawn time: the handles it talks to, the caches it reads, the
// settings and a clock. Built once by the operator; immutable afterwards (the clients and caches
// it points to are thread-safe).

#include "actors/backoff.hpp"
#include "actors/read_cache.hpp"
#include "actors/shard_table.hpp"
#include "actors/target_gate.hpp"
#include "api/postgres_user.hpp"
#include "k8s/client.hpp"
#include "k8s/informer.hpp"
#include "pg/password.hpp"

#include <caf/actor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace dbuser::actors {

struct operator_settings {
  std::chrono::milliseconds resync_period{std::chrono::minutes(5)};
  std::chrono::milliseconds login_check_period{std::chrono::minutes(30)};
  backoff_policy backoff;
  // The operator-wide password policy (--default-password-policy); spec.passwordPolicy overrides
  // it field by field.
  pg::password_policy password_policy;
  std::chrono::seconds connect_timeout{10};
  std::chrono::milliseconds admin_secret_ttl{std::chrono::seconds(10)}; // read cache; 0: none
  // Reconciles running at once per kind; the others wait as a key in the manager's queue (a
  // running reconcile holds its resource, Secret and spec: memory, and no faster at the pool).
  std::size_t max_concurrent_reconciles = 64;
  bool fault_injection = false; // honour the fault-injection annotation (tests only)
  std::string instance;         // reportingInstance of Events (host name)
  // This install's identity (--install-id; api/claim.hpp): the users it claims carry it.
  std::string install_id = "default/dbuser-operator";
};

// What a supervisor reports about itself after each step (for /debug/actors and /metrics).
struct supervisor_report {
  std::string kind; // PostgresUser or MySQLUser
  std::string key;
  // Idle, Reconciling, Backoff, Deleting, Stopped; ClaimedElsewhere (another install owns it)
  // and Released (this install let it go): neither is managed here.
  std::string phase;
  int attempts = 0;
  int restarts = 0;
  std::string last_error;
  std::string last_result; // success, retry, refused
  std::int64_t next_wakeup_ms = 0;           // from now
  std::int64_t last_success_unix = 0;        // seconds
  std::int64_t rotation_due_unix = 0;        // seconds; 0: no periodic rotation (or unknown)
  double last_duration_seconds = 0;
  bool ready = false;
  bool deleted = false; // the supervisor is gone for good
  std::string claimed_by; // ClaimedElsewhere: the install that owns it; Released: this one
};

// What the user manager reports about one database target's reconcile slots and their waiting
// line (common/fair_queue.hpp), for /debug/actors and /metrics. Lanes: 0 urgent, 1 background.
struct slot_queue_stats {
  std::string kind;   // PostgresUser or MySQLUser
  std::string target; // engine://host:port ("" when the spec names none)
  std::size_t running = 0;
  std::size_t waiting[2] = {0, 0};
  std::size_t namespaces_waiting = 0;
  std::uint64_t granted[2] = {0, 0};  // since start
  double waited_seconds[2] = {0, 0};  // in total, of those granted
  double max_wait_seconds[2] = {0, 0}; // the longest wait of a grant since the previous report
};

struct operator_context {
  api::engine engine = api::engine::postgres; // which kind of user resource this context serves
  k8s::resource resource = k8s::resource::postgres_users();
  std::string kind = "PostgresUser"; // PostgresUser, PostgresRole or MySQLUser
  // PostgresRoles: NOLOGIN roles without credentials (no Secret, no password, no login check).
  [[nodiscard]] bool serves_roles() const { return kind == "PostgresRole"; }
  std::shared_ptr<k8s::client> kube;
  std::shared_ptr<k8s::informer> users;   // the user resources (PostgresUsers or MySQLUsers)
  std::shared_ptr<k8s::informer> secrets; // Secrets labelled managed-by=dbuser-operator
  target_gate targets; // which namespaces may use which targets (informers may be null: allow all)
  caf::actor pools;                       // (pool_atom, db_target) → pool
  caf::actor secret_writer;
  std::shared_ptr<read_cache> admin_secrets; // admin and CA Secrets read recently; may be null
  // --shards N > 1: the shards this process holds; null with one shard (every user is ours).
  std::shared_ptr<shard_table> shards;
  operator_settings settings;
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  };
  std::function<void(const supervisor_report&)> report; // may be empty
  std::function<void(const slot_queue_stats&)> report_queue; // may be empty
  std::function<void()> on_rotation;                     // may be empty: counts rotations
};

// Annotation that makes a supervisor throw once (only with settings.fault_injection).
inline constexpr const char* fault_injection_annotation = "database.example.com/fault-injection";

} // namespace dbuser::actors
