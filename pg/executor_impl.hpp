#pragma once

// Internals of the executor, shared by its translation units (executor.cpp: connections, create,
// ping, login check; executor_errors.cpp: libpqxx exceptions to pg::error; executor_observe.cpp:
// catalog reads; executor_converge.cpp: apply and converge; executor_drop.cpp: dropping roles and
// unused privilege groups). Not a public interface: included by pg/executor*.cpp only.

#include "common/db_link.hpp"

#include "pg/executor.hpp"
#include "pg/login.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

namespace dbuser::pg {

namespace detail {

// Every write transaction of the operator takes this lock first (advisory, per database, held to
// commit). Concurrent GRANTs to different roles update the same catalog row (the schema's or the
// database's ACL, the admin's default privileges) and PostgreSQL fails the second one with
// "tuple concurrently updated" (XX000) instead of waiting: serialised, none fails. The lock is per
// database; shared-catalog statements (roles, CONNECT on a database) run in whichever database an
// executor is connected to, so two of them may still meet in another database: rare, and XX000 is
// retried (pg/error.cpp). The key is "dbuser-o" in ASCII; other clients never take it.
inline constexpr const char* serialize_writes = "SELECT pg_advisory_xact_lock(7233473089994108271)";

// The SQLSTATE of `e`, from its class when libpqxx gives none ("" when unknown).
std::string sqlstate_of(const pqxx::sql_error& e);

// The edge of pg/: every libpqxx exception becomes a pg::error.
error from_exception(const std::exception& ex, std::string context,
                     const std::vector<std::string>& secrets);

// Server notices and warnings ("no privileges could be revoked", ...) go to the debug log,
// redacted, instead of libpqxx's default of stderr.
class notice_logger final : public pqxx::errorhandler {
public:
  notice_logger(pqxx::connection_base& c, std::vector<std::string> secrets)
      : pqxx::errorhandler(c), secrets_(std::move(secrets)) {}
  bool operator()(const char msg[]) noexcept override {
    try {
      spdlog::debug("pg notice: {}", redact(msg, secrets_));
    } catch (...) { // a log failure must not become an error of the statement
    }
    return false;
  }

private:
  std::vector<std::string> secrets_;
};

// A connection and its notice handler (declared after it: unregistered first).
struct session {
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<notice_logger> notices;
};

inline constexpr const char* role_oid = "(SELECT oid FROM pg_roles WHERE rolname = $1)";

// A role's columns for parse_role, from pg_roles `r` (all NULL when there is no such role): its
// memberships come in the same statement.
inline constexpr const char* role_columns =
  "r.oid IS NOT NULL, r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolcreatedb, "
  "r.rolreplication, r.rolbypassrls, r.rolconnlimit, shobj_description(r.oid, 'pg_authid'), "
  "array_to_string(r.rolconfig, chr(10)), ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN "
  "pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1)";

// The role of `row` from column `at` on (role_columns).
observed_role parse_role(const pqxx::row& row, int at);

} // namespace detail

struct executor::impl {
  target t;
  db_link link; // the CA file handed to libpq, the admin socket's registration with the cutter
  // One admin connection at a time, so that a pool of N executors holds N connections: to the
  // database the last statement needed. Statements on shared catalogs (roles, memberships, CONNECT
  // on a database) name no database ("") and run on whichever is open.
  detail::session current;
  std::string current_db;
  int server_version_num = 0;         // of the open connection's server; 0: not asked yet
  // Whether the admin may read pg_authid (catalog_check): -1 not asked yet, 0 no, 1 yes.
  int authid_readable = -1;
  std::unique_ptr<login_client> login; // the login check's client (its TLS context)
  // Privilege groups found converged (their plan empty), by name, with the fingerprint of the
  // catalog rows their observation reads (group_fingerprint_sql) taken before that observation
  // (pg/groups.hpp: "Observing a group once").
  struct converged_group {
    std::string fingerprint;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, converged_group> converged_groups;
  // Statements prepared on the open connection, by text: the catalog queries of every converge
  // are planned once per connection (their planning cost more than running them).
  std::map<std::string, std::string> prepared;

  ~impl();

  std::string db_name(const std::string& db) const { return db.empty() ? t.maintenance_db : db; }

  std::vector<std::string> secrets(std::vector<std::string> more = {}) const {
    more.push_back(t.admin_password);
    return more;
  }

  void close();

  std::string conninfo(std::string_view user, std::string_view password, std::string_view db,
                       std::string_view application = "dbuser-operator") const;

  // The admin connection to `db`; for "" the open one, else the maintenance database. Throws
  // like libpqxx. Switching databases closes the previous connection.
  pqxx::connection& conn(const std::string& db);

  // The one row of `sql` (bind parameters `args`), prepared on first use on the open connection,
  // on which `tx` runs.
  template <class... Args>
  pqxx::row prepared1(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
    return tx.exec_prepared1(statement(sql), std::forward<Args>(args)...);
  }

  // All rows of `sql`, likewise.
  template <class... Args>
  pqxx::result prepared_rows(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
    return tx.exec_prepared(statement(sql), std::forward<Args>(args)...);
  }

  // The name `sql` is prepared under on the open connection.
  const std::string& statement(const std::string& sql);

  // Turns an exception into an error; a broken connection is forgotten, never silently reused.
  error fail(const std::exception& ex, std::string context,
             const std::vector<std::string>& extra = {});

  // The role's privileges in the schemas of database `db` (its connection `c`), appended to `out`
  // (executor_observe.cpp).
  void observe_database(pqxx::connection& c, const std::string& db, const desired_role& d,
                        std::vector<observed_schema>& out);
  // Who owns what the role asks to own (desired_role::owns_database, ::owned_schemas), read in
  // its database `db` (the connection `c`): nothing when it asks for nothing.
  void observe_ownership(pqxx::connection& c, const desired_role& d, observed_ownership& out);
};

namespace detail {

// A role's attributes, comment, settings and memberships (exists = false when there is none), in
// one statement.
// (`Self` is executor::impl, private to executor: named by the caller.)
template <class Self>
observed_role read_role(Self& self, pqxx::transaction_base& tx, const std::string& name) {
  static const std::string query = std::string("SELECT ") + role_columns
                                   + " FROM (SELECT 1) one LEFT JOIN pg_roles r ON r.rolname = $1";
  return parse_role(self.prepared1(tx, query, name), 0);
}

// The databases (accepting connections) where `role` owns objects or holds privileges.
template <class Self>
std::vector<std::string> databases_of_role(Self& self, pqxx::transaction_base& tx,
                                           const std::string& role) {
  static const std::string query =
    std::string("SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON "
                "d.oid = s.dbid WHERE s.refclassid = 'pg_authid'::regclass AND "
                "s.refobjid = ")
    + role_oid + " AND d.datallowconn ORDER BY 1";
  std::vector<std::string> out;
  const pqxx::result rows = self.prepared_rows(tx, query, role);
  for (const auto& row : rows)
    out.push_back(row[0].as<std::string>());
  return out;
}

} // namespace detail

} // namespace dbuser::pg
