#pragma once

// The executor: the only place that talks to PostgreSQL (through libpqxx, kept out of this header).
// One executor per PostgreSQL target and per thread of use: it owns its connections (one per
// database, opened when first needed, dropped when broken) and is not thread-safe. It blocks:
// call it from a detached actor only.
//
// Every connection sets application_name=dbuser-operator, the connect timeout, the statement
// timeout and standard_conforming_strings=on (which sql::quote_literal relies on), TCP keepalives
// (idle 5 s, then every 2 s, 3 probes) and tcp_user_timeout (10 s): a peer that vanishes after
// connect is noticed in seconds. A server that still acknowledges but never answers (frozen) is
// the socket_cutter's job (common/socket_cutter.hpp). Errors are
// pg::error values with context; no password or verifier ever appears in them.

#include "common/pimpl.hpp"
#include "common/socket_cutter.hpp"
#include "pg/error.hpp"
#include "pg/plan.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dbuser::pg {

struct scram_keys; // pg/scram.hpp

struct target {
  std::string host;
  int port = 5432;
  std::string admin_user;
  std::string admin_password;
  std::string maintenance_db = "postgres";  // where cluster-wide statements run when no connection is open
  std::string ssl_mode = "prefer";          // disable|allow|prefer|require|verify-ca|verify-full
  std::string ca_file;                      // PEM file of the CA that signed the server, or
  std::string ca_pem;                       // the PEM bytes themselves (written to a 0600 file)
  std::chrono::seconds connect_timeout{10};
  std::chrono::milliseconds statement_timeout{30000};
};

// The outcome of logging in as a managed role. A failed login is a normal result, not an error.
// How the operator proves that a Secret's credentials work (--verify-credentials): by logging in,
// from the catalog (pg_authid; superuser admins), or the catalog where it can answer.
enum class credential_proof { login, catalog, automatic };

struct login_result {
  bool ok = false;
  bool catalog = false;         // proven from the catalog (catalog_check), not by logging in
  double latency_ms = 0;        // connect + first query
  std::string server_version;   // "15.5 (Debian 15.5-0+deb12u1)"
  std::string message;          // why it failed (redacted), empty on success
  std::optional<error> failure; // classified: auth, unavailable, invalid (TLS), ...
};

// What check_member_of() finds about the roles of a memberOf, each list in their order.
struct member_of_roles {
  // Those that do not exist; predefined roles (pg_*) are left to the plan, which names the
  // version that has them.
  std::vector<std::string> missing;
  // Those that hold SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS: membership in them would let
  // a member SET ROLE to power it was never given.
  std::vector<std::string> privileged;
};

class executor {
public:
  // Checks the target (ssl_mode, port) and writes ca_pem to a private temp file when given. Every
  // socket it opens is registered with `cutter` (when given), so that another thread can cut a
  // blocked call short.
  [[nodiscard]] static result<executor> create(target t,
                                               std::shared_ptr<socket_cutter> cutter = nullptr);

  [[nodiscard]] const target& where() const;

  // The role, and its privileges in every database/schema it is desired in or holds anything in.
  [[nodiscard]] result<observed_state> observe(const desired_role& desired);
  // One role's attributes, comment, settings and memberships.
  [[nodiscard]] result<observed_role> observe_role(const std::string& role);
  // Runs the actions in order; consecutive actions of one database share a transaction, sent in
  // one round trip (the advisory write lock first); when it fails, the transaction is run again
  // one statement at a time so that the error names the statement that fails.
  // Returns the descriptions of what was done (for Events).
  [[nodiscard]] result<std::vector<std::string>> apply(const std::vector<action>& actions);
  // observe → converge_observed. Converging an already converged role does nothing and returns {}.
  [[nodiscard]] result<std::vector<std::string>> converge(const desired_role& desired);
  // From an observation of the role: with desired.use_groups, its privilege groups are
  // converged (created, repaired) first — a group found converged and unchanged since is not
  // observed again — then the role's plan is applied (its shared-catalog statements in the
  // transaction of its group joins), then groups it left are dropped when unused (pg/groups.hpp
  // has the flow). A group found dropped or created
  // concurrently (42704, 42710) starts it over, from a new observation, up to three times.
  [[nodiscard]] result<std::vector<std::string>> converge_observed(const desired_role& desired,
                                                                   observed_state observed);

  [[nodiscard]] result<bool> database_exists(std::string_view database);
  // The roles of a memberOf, in one catalog read (member_of_roles says what it reports).
  [[nodiscard]] result<member_of_roles> check_member_of(const std::vector<std::string>& roles);
  // The roles that are members of `role`, but for the admin and the operator's privilege groups,
  // sorted.
  [[nodiscard]] result<std::vector<std::string>> members_of(std::string_view role);
  // CREATE DATABASE outside a transaction when missing; never drops one. True if created.
  [[nodiscard]] result<bool> ensure_database(std::string_view database);
  // ALTER ROLE ... PASSWORD '<verifier>' (the verifier from scram_verifier, never a plaintext).
  [[nodiscard]] result<void> set_password(std::string_view role, std::string_view verifier);
  // In every database where the role owns objects or holds privileges: REASSIGN OWNED BY role TO
  // admin, DROP OWNED BY role; then DROP ROLE. Data is kept (owned by the admin). A missing role
  // is not an error. Then the privilege groups it was in are dropped when unused. Returns the
  // descriptions of what was done.
  [[nodiscard]] result<std::vector<std::string>> drop_role(std::string_view role);
  // Drops privilege group `group` (only when its comment is our group marker) if no role but the
  // admin is a member: DROP OWNED BY it in every database where it holds something, the last in
  // its own database under the advisory write lock with membership checked again (pg/groups.hpp).
  // Returns what was done; nothing when it is in use, absent or not ours.
  [[nodiscard]] result<std::vector<std::string>> drop_group_if_unused(std::string_view group);
  // drop_group_if_unused for each of `left` (groups a role just left, or was in when dropped),
  // then for every other group of ours that no role but the admin is in (its last member dropped
  // by hand, or a crash between a leave and its drop). Failures are logged, never returned: the
  // role's own change is done, and the next leave or deletion sweeps again.
  std::vector<std::string> drop_unused_groups(const std::vector<std::string>& left);

  // Connects as `role` with `password` over TCP with the target's sslmode/CA (a fresh connection,
  // not cached) until the session is ready (pg/login.hpp; libpq and one query where that client
  // does not answer). `known`: the keys the password's verifier was just made from, if any.
  [[nodiscard]] login_result login_check(std::string_view role, std::string_view password,
                                         std::string_view database,
                                         const scram_keys* known = nullptr) const;

  // The same question answered from the catalog, without starting a backend
  // (executor_verify.cpp): pg_authid holds the verifier of `password` (derived again with the
  // stored salt and count, or `known`), the role may log in and its password has not expired,
  // and `database` accepts connections and grants the role CONNECT. What only a login proves
  // (pg_hba.conf, the connection limit) is not. nullopt when it cannot answer: the admin may not
  // read pg_authid (superusers only), or the password is not ASCII (SASLprep is libpq's).
  [[nodiscard]] std::optional<login_result> catalog_check(std::string_view role,
                                                          std::string_view password,
                                                          std::string_view database,
                                                          const scram_keys* known = nullptr) const;

  // login_check or catalog_check as `proof` says: `automatic` uses the catalog where it can
  // answer and logs in otherwise; `catalog` fails when the catalog cannot answer.
  [[nodiscard]] login_result verify_credentials(std::string_view role, std::string_view password,
                                                std::string_view database,
                                                const scram_keys* known,
                                                credential_proof proof) const;

  // Closes every cached connection (they are reopened on demand).
  void close();

  // Connects to the maintenance database and runs one trivial query: is the target answering?
  [[nodiscard]] result<void> ping();

private:
  struct impl;
  explicit executor(std::unique_ptr<impl> p);
  pimpl<impl> impl_; // movable, not copyable
};

} // namespace dbuser::pg
