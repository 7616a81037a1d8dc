#pragma once

// One end-to-end test's world: a fresh namespace holding the `postgres-admin` Secret, the real
// operator binary watching that namespace, the dev environment's kube-apiserver and PostgreSQL,
// and cleanup of everything the test made (PostgresUsers deleted through the operator, leftover
// roles and databases dropped, the namespace deleted).
//
// Every password the test reads from a Secret is remembered, so the test can check that none of
// them ever appears in the operator's log.

#include "test/e2e/support/kube.hpp"
#include "test/e2e/support/operator_process.hpp"
#include "test/e2e/support/postgres.hpp"

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace dbuser::test::e2e {

inline constexpr const char* admin_secret_name = "postgres-admin";
inline constexpr const char* pguser = "postgresusers.database.example.com";

// Who the postgres-admin Secret names: the dev environment's superuser, or its least-privilege
// admin (LOGIN CREATEROLE CREATEDB, what managed PostgreSQL gives).
enum class admin_kind { superuser, least_privilege };

// DBUSER_E2E_ADMIN=superuser|least-privilege (the version matrix runs suites both ways), else
// `fallback`.
[[nodiscard]] admin_kind admin_kind_from_env(admin_kind fallback);

struct e2e_options {
  bool admin_secret = true; // create the postgres-admin Secret in the namespace
  bool start_operator = true;
  bool fault_injection = false;
  std::string resync_period = "5s";
  std::vector<std::string> extra_args;
  admin_kind admin = admin_kind_from_env(admin_kind::superuser);
};

// The names of one test's user (PostgresUser or MySQLUser), made unique for the test.
struct user_names {
  std::string name;        // the object
  std::string username;    // its role or account
  std::string database;
  std::string secret_name; // its credentials Secret
};

// The Ready condition of a PostgresUser.
struct ready_state {
  std::string status; // "True", "False", "Unknown" or "" (no condition yet)
  std::string reason;
  std::string message;
  std::string last_transition_time;
};

class e2e_env {
public:
  explicit e2e_env(e2e_options opts = {});
  ~e2e_env();
  e2e_env(const e2e_env&) = delete;
  e2e_env& operator=(const e2e_env&) = delete;

  kube k8s;
  postgres pg;
  const std::string ns;
  // The admin the postgres-admin Secret holds (pg.admin_user() stays the superuser, for the
  // test's own checks and cleanup).
  [[nodiscard]] const std::string& admin_user() const;
  [[nodiscard]] const std::string& admin_password() const;
  [[nodiscard]] bool least_privilege() const { return opts_.admin == admin_kind::least_privilege; }
  std::unique_ptr<operator_process> op; // null when start_operator is false

  // Unique names for this test: Kubernetes objects (DNS labels), roles and databases (lower
  // snake case). Roles and databases are dropped at the end.
  std::string object_name(const std::string& prefix);
  std::string role_name(const std::string& prefix);
  std::string database_name(const std::string& prefix);
  void forget_role(const std::string& role); // e.g. when a test expects it to be retained
  // The names of a user from one stem ("lost-secret"): the object "lost-secret", role
  // "lost_secret", database "lost_secret_db" and Secret "lost-secret-creds", made unique as above.
  user_names names_for(const std::string& stem);

  // An object of one of the operator's kinds ("PostgresRole") named `name` in this namespace.
  [[nodiscard]] nlohmann::json manifest(const std::string& kind, const std::string& name,
                                        nlohmann::json spec) const;
  // A PostgresUser manifest in this namespace pointing at the dev PostgreSQL (127.0.0.1:PGPORT),
  // adminSecretRef postgres-admin, privileges SELECT INSERT UPDATE DELETE.
  [[nodiscard]] nlohmann::json user_manifest(const std::string& name, const std::string& username,
                                             const std::string& database,
                                             const std::string& secret_name) const;
  [[nodiscard]] nlohmann::json user_manifest(const user_names& u) const {
    return user_manifest(u.name, u.username, u.database, u.secret_name);
  }
  // kubectl apply; throws when the API server refuses it.
  void apply(const nlohmann::json& object) const;
  // Applies a PostgresUser of `database` with a rotation interval (720h: none falls due during a
  // test), named from `stem` as names_for does: its name; its Secret is the name + "-creds".
  std::string apply_rotating_user(const std::string& stem, const std::string& database);
  // Applies `n` PostgresUsers of `database` (names, roles and Secrets unique from `stem`): their
  // names and Secrets' names, in order.
  std::vector<std::pair<std::string, std::string>> apply_users(const std::string& stem,
                                                               const std::string& database, int n);
  [[nodiscard]] exec_result try_apply(const nlohmann::json& object) const;

  [[nodiscard]] std::optional<nlohmann::json> user(const std::string& name) const;
  [[nodiscard]] ready_state ready(const std::string& name) const { return ready_of(pguser, name); }
  // Waits until the Ready condition has `status` (and `reason`, when not empty).
  bool wait_ready(const std::string& name, std::chrono::milliseconds deadline,
                  const std::string& status = "True", const std::string& reason = "") const {
    return wait_ready_of(pguser, name, deadline, status, reason);
  }
  // The same for an object of any kind ("mysqlusers.database.example.com").
  [[nodiscard]] ready_state ready_of(const std::string& kind, const std::string& name) const;
  bool wait_ready_of(const std::string& kind, const std::string& name,
                     std::chrono::milliseconds deadline, const std::string& status,
                     const std::string& reason) const;
  // How many PostgresUsers of the namespace have status.ready true (one request).
  [[nodiscard]] int ready_count() const;
  // Waits until the object is gone.
  bool wait_gone(const std::string& kind, const std::string& name,
                 std::chrono::milliseconds deadline) const;

  // The credentials Secret's decoded data; remembers its password. nullopt when absent.
  std::optional<std::map<std::string, std::string>> secret(const std::string& name);
  // Logs in with the Secret's username and password to its database: empty on success.
  std::string login_with_secret(const std::string& secret_name);
  bool wait_login_with_secret(const std::string& secret_name, std::chrono::milliseconds deadline);

  // Warning Events about `name`, as "Reason: message" lines.
  [[nodiscard]] std::vector<std::string> warnings(const std::string& name) const;
  // Waits (10 s) for a Warning Event about `name` with `reason`.
  bool wait_warning(const std::string& name, const std::string& reason) const;
  // Waits (40 s) until the operator's log says it refused `name` for `reason` at least `times`
  // times (it retries on every resync), so a check after it sees what repeated reconciles left.
  bool wait_refusals(const std::string& name, const std::string& reason, std::size_t times) const;

  // Every password remembered (and the SCRAM verifier prefix) found in the operator's log.
  // Passwords are given redacted (their length and first two characters).
  [[nodiscard]] std::vector<std::string> secrets_in_log() const;
  void remember_password(const std::string& password);

  // For failure messages: the PostgresUser's status and the operator log's tail.
  [[nodiscard]] std::string describe(const std::string& name) const {
    return describe_of("PostgresUser", pguser, name);
  }
  // The same for an object of any kind, `label` naming it ("MySQLUser").
  [[nodiscard]] std::string describe_of(const std::string& label, const std::string& kind,
                                        const std::string& name) const;

private:
  e2e_options opts_;
  std::set<std::string> roles_;
  std::set<std::string> databases_;
  std::set<std::string> passwords_;
};

} // namespace dbuser::test::e2e
