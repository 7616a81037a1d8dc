#pragma once

// The database protocol: supervisors ask a pool (one per PostgreSQL target) for work on one role;
// the pool hands it to one of its connection actors, which run libpqxx in detached threads.
//
// Jobs carry a plaintext password (the Secret's, to check the login and to derive a verifier).
// They are allowed as "unsafe" message types on purpose: they have no inspect(), so CAF can never
// serialise or print them, and no log line can show the password.

#include "mysql/executor.hpp"
#include "pg/executor.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dbuser::msg {

// (pool_atom, db_target) → caf::actor: the pool for a target, spawned on first use.
using pool_atom = caf::atom_constant<caf::atom("pool")>;
// (job_atom, db_job) → db_result
using job_atom = caf::atom_constant<caf::atom("job")>;
// (idle_atom): a pool's periodic check for idle connections.
using idle_atom = caf::atom_constant<caf::atom("idle")>;
// (stall_atom, slot id, job number): a job has run `stall_after`: is its target still answering?
using stall_atom = caf::atom_constant<caf::atom("stall")>;
// (probe_atom): a down target's next probe is due; (probe_atom, db_target) → db_probe_result to
// a one-shot probe actor.
using probe_atom = caf::atom_constant<caf::atom("probe")>;

enum class db_engine : std::uint8_t { postgres, mysql };

// Where a pool connects and as whom: `pg` or `my`, per `engine`. Pools are keyed by every field
// (a changed admin password makes a new pool; the old one closes when idle).
struct db_target {
  db_engine engine = db_engine::postgres;
  pg::target pg;
  mysql::target my;
  [[nodiscard]] std::string key() const;   // engine://host:port/user + a digest of the rest
  [[nodiscard]] std::string label() const; // engine://host:port/user, for logs and /debug/actors
};

enum class db_job_kind : std::uint8_t {
  converge, // observe, check ownership, converge the role and grants, check the login
  remove,   // observe, check ownership, reassign + drop owned, drop the role
  rotate,   // check ownership, set the password to `password` (a verifier), check the login
};

struct db_job {
  db_job_kind kind = db_job_kind::converge;
  std::string owner;        // "namespace/name" of the user resource
  pg::desired_role desired; // PostgreSQL: verifier left empty, the connection actor derives it
  mysql::desired_account account; // MySQL: password hash left empty, likewise
  std::string password;    // the password the Secret holds (or is about to hold)
  std::string login_database;
  bool force_login_check = false;
  pg::credential_proof verify = pg::credential_proof::automatic; // PostgreSQL: how (--verify-credentials)
  // remove: refuse (db_result::refusal, nothing dropped) while roles other than the admin are
  // members of the role (a PostgresRole that users still join).
  bool keep_while_members = false;
};

enum class role_claim : std::uint8_t { ours, absent, unmanaged, other_owner };

// An engine's error, engine-neutral (both engines classify the same way).
struct db_error {
  using kind = dbuser::db_error_kind;
  kind what = kind::internal;
  std::string message; // "while ...: ..." — redacted by the engine layer
  bool transient = false;
  // Failed fast: the pool knows the target is down and did not try (the message says since when
  // and why). One log line per outage comes from the pool, not one per user.
  bool target_down = false;
  std::string down_since; // with target_down: when the outage began (RFC 3339, UTC)
  // The database server itself reported it (a SQLSTATE, a server error code); else the client
  // library did (connecting, the network), and status says only the class of the failure.
  bool from_server = false;
};

// A probe's answer: the target answered (no failure), or why not.
struct db_probe_result {
  std::optional<db_error> failure;
};

// Logging in with the generated credentials.
struct login_check {
  bool ok = false;
  bool catalog = false; // proven from the catalog, not by logging in (pg::executor::catalog_check)
  double latency_ms = 0;
  std::string server_version;
  std::string message;
};

struct db_result {
  role_claim claim = role_claim::ours;
  std::string claimed_by;              // for other_owner
  std::vector<std::string> done;       // descriptions of the changes made (for Events)
  bool created = false;                // the role did not exist before
  bool password_set = false;           // the role's password was (re)set to the job's
  std::optional<login_check> login;
  std::optional<std::string> refusal;  // the spec asks for something unsafe: nothing was changed
  // Something the spec names does not exist yet (a memberOf role, perhaps a PostgresRole not
  // Ready yet): nothing was changed; try again.
  std::optional<std::string> waiting;
  std::optional<db_error> failure;     // the job stopped here
};

} // namespace dbuser::msg

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dbuser::msg::db_target)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dbuser::msg::db_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dbuser::msg::db_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dbuser::msg::db_probe_result)
