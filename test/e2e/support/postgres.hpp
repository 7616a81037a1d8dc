#pragma once

// The test's own view of PostgreSQL: the admin connection of the dev environment, what a role
// looks like in the catalog, logging in as a generated user, and stopping/starting the server.

#include <cstdint>
#include <functional>
#include <optional>
#include <pqxx/pqxx>
#include <string>

namespace dbuser::test::e2e {

// A role as pg_authid shows it.
struct role_info {
  std::string verifier; // rolpassword
  bool can_login = false;
  bool superuser = false;
  bool create_role = false;
  bool create_db = false;
  int connection_limit = -1;
  std::string comment; // shobj_description
  bool operator==(const role_info& o) const {
    return verifier == o.verifier && can_login == o.can_login && superuser == o.superuser
           && create_role == o.create_role && create_db == o.create_db
           && connection_limit == o.connection_limit && comment == o.comment;
  }
};

class postgres {
public:
  // From the dev environment (dev_env::get()).
  postgres();

  [[nodiscard]] const std::string& host() const { return host_; }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] const std::string& admin_user() const { return admin_user_; }
  [[nodiscard]] const std::string& admin_password() const { return admin_password_; }
  // The least-privilege admin of the dev environment (LOGIN CREATEROLE CREATEDB, no superuser:
  // what managed PostgreSQL gives), from DBUSER_PG_LP_USER / DBUSER_PG_LP_PASSWORD.
  [[nodiscard]] const std::string& lp_user() const { return lp_user_; }
  [[nodiscard]] const std::string& lp_password() const { return lp_password_; }
  // The server's major version (13 ... 18).
  [[nodiscard]] int major_version() const;

  [[nodiscard]] pqxx::connection admin(const std::string& database = "postgres") const;
  // Runs statements as the admin outside a transaction (CREATE DATABASE, DROP ROLE, ...).
  void exec(const std::string& sql, const std::string& database = "postgres") const;
  [[nodiscard]] bool role_exists(const std::string& role) const;
  [[nodiscard]] std::optional<role_info> role(const std::string& role) const;
  [[nodiscard]] bool database_exists(const std::string& database) const;

  // libpq connection string for `user` with `password` over TCP.
  [[nodiscard]] std::string conninfo(const std::string& user, const std::string& password,
                                     const std::string& database) const;
  // Empty when `user` logs in to `database` with `password`; else the server's message.
  [[nodiscard]] std::string login_error(const std::string& user, const std::string& password,
                                        const std::string& database) const;
  // Runs `sql` as `user`; empty on success, else the error message (e.g. permission denied).
  [[nodiscard]] std::string exec_as(const std::string& user, const std::string& password,
                                    const std::string& database, const std::string& sql) const;

  // What a DBA does to remove a role by hand: in every database REASSIGN OWNED BY / DROP OWNED BY,
  // then DROP ROLE. Absent is fine.
  void drop_role_everywhere(const std::string& role) const;
  // DROP DATABASE ... WITH (FORCE); absent is fine.
  void drop_database(const std::string& database) const;

  // Whether the server accepts admin connections now.
  [[nodiscard]] bool accepting() const;
  // hack/dev-down.sh --only postgres (pg_ctl stop -m fast) and waits until it is down.
  void stop() const;
  // Brings it back with hack/dev-up.sh (same port) and waits until it accepts connections.
  void start() const;

  // Quotes an identifier / a literal (no connection needed for identifiers).
  [[nodiscard]] static std::string ident(const std::string& name);

private:
  std::string host_;
  int port_ = 0;
  std::string admin_user_;
  std::string admin_password_;
  std::string lp_user_;
  std::string lp_password_;
};

// Brings PostgreSQL back however a test that stops it ends.
struct restart_postgres_at_exit {
  const postgres& pg;
  ~restart_postgres_at_exit();
};

// The dev PostgreSQL's log file (DBUSER_PG_LOG) read from an offset on: a witness of what the
// server was asked. `start()` is its size when this was made.
class server_log {
public:
  server_log();
  [[nodiscard]] std::uintmax_t size() const;
  [[nodiscard]] std::string since(std::uintmax_t offset) const;
  [[nodiscard]] std::string since_start() const { return since(start_); }
  [[nodiscard]] std::uintmax_t start() const { return start_; }

private:
  std::string path_;
  std::uintmax_t start_ = 0;
};

// A server-wide setting while this lives (ALTER SYSTEM SET name = value, reloaded), reset at the
// end. The constructor returns once `took_effect` (asked again for up to 20 s) says so, and throws
// when it never does.
class server_setting {
public:
  server_setting(const postgres& pg, std::string name, const std::string& value,
                 const std::function<bool()>& took_effect);
  ~server_setting();
  server_setting(const server_setting&) = delete;
  server_setting& operator=(const server_setting&) = delete;

private:
  void reset() const;

  const postgres& pg_;
  std::string name_;
};

} // namespace dbuser::test::e2e
